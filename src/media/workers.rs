//! The threads that decode pictures: a fixed few, at the lowest CPU priority the kernel has,
//! so a burst of photo uploads only uses CPU time that chat does not need.
//!
//! Decoding a 12-megapixel photo takes a core for a tenth of a second or more. On the
//! blocking pool at normal priority, such a thread holds its core for whole scheduler slices
//! while chat's threads wait behind it. Here every thread is `SCHED_IDLE` on Linux: any
//! runnable thread of ordinary priority preempts it at once, and it runs only when a core
//! would otherwise be idle. Photos wait when the machine is busy; messages do not.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A handle on the picture threads; cheap to clone, every clone feeds the same threads.
#[derive(Clone)]
pub struct PictureWorkers {
    jobs: Sender<Job>,
    threads: usize,
}

/// The work could not run: its thread panicked, or the threads are gone.
#[derive(Debug, thiserror::Error)]
#[error("picture work did not finish (it panicked or its threads stopped)")]
pub struct Interrupted;

impl PictureWorkers {
    /// Start `threads` threads (at least one). They sleep until work arrives and end when
    /// the last handle is dropped.
    #[allow(
        clippy::expect_used,
        reason = "start-up: a server that cannot start a thread cannot run"
    )]
    pub fn start(threads: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("jim-picture-{n}"))
                .spawn(move || work(&queue))
                .expect("starting a picture thread");
        }
        Self { jobs, threads }
    }

    /// How many threads decode at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Run `job` on a picture thread and wait for its result without blocking the caller's
    /// runtime. Jobs start in the order they arrive.
    pub async fn run<T, F>(&self, job: F) -> Result<T, Interrupted>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // A panic drops `done`, which the caller sees as `Interrupted`; the thread
                // lives on for the next job.
                if let Ok(value) = catch_unwind(AssertUnwindSafe(job)) {
                    let _ = done.send(value);
                }
            }))
            .map_err(|_| Interrupted)?;
        result.await.map_err(|_| Interrupted)
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    lowest_priority();
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Put the calling thread in `SCHED_IDLE`. Where that is unavailable the thread keeps its
/// priority: pictures are still bounded to `threads` at once.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let _ = set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_off_the_caller_and_a_panic_is_reported_not_fatal() {
        let workers = PictureWorkers::start(1);
        let caller = std::thread::current().id();
        let (value, thread) =
            workers.run(move || (21 * 2, std::thread::current().id())).await.unwrap();
        assert_eq!(value, 42);
        assert_ne!(thread, caller);
        assert!(workers.run(|| -> u8 { panic!("a broken picture") }).await.is_err());
        // The thread that caught the panic takes the next job.
        assert_eq!(workers.run(|| 7).await.unwrap(), 7);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn picture_threads_run_at_idle_priority() {
        let workers = PictureWorkers::start(1);
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
        };
        let policy = workers.run(thread_schedule_policy).await.unwrap().unwrap();
        assert_eq!(policy, ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle));
    }
}
