//! The bus: events cross instances through Redis, the subscriber and the command connection
//! survive a Redis restart, and the in-process bus and both caches behave alike.

use std::sync::Arc;
use std::time::Duration;

use jim::bus::{BusMessage, Cache, Event};
use tokio::sync::broadcast;

use crate::helpers::*;

async fn receive_probe(
    rx: &mut broadcast::Receiver<Arc<BusMessage>>,
    nonce: &str,
) -> Option<Arc<BusMessage>> {
    let wanted = Event::Probe { nonce: nonce.to_string() };
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rx.recv().await {
                Ok(msg) if msg.event == wanted => return Some(msg),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_one_instance_reaches_another() {
    let Some(scale) = ScaleOut::fresh().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn_app(scale.config(dir_a.path())).await;
    let b = spawn_app(scale.config(dir_b.path())).await;
    assert!(a.state.bus.wait_subscribed(Duration::from_secs(5)).await);
    assert!(b.state.bus.wait_subscribed(Duration::from_secs(5)).await);
    let mut on_b = b.state.bus.subscribe();
    let mut on_a = a.state.bus.subscribe();

    a.state.bus.publish(Event::Probe { nonce: "a-to-b".into() }).await.unwrap();
    let got = receive_probe(&mut on_b, "a-to-b").await.expect("B hears A's event");
    assert_eq!(got.origin, a.state.instance_id);
    assert_ne!(got.origin, b.state.instance_id);
    assert!(receive_probe(&mut on_a, "a-to-b").await.is_some(), "A hears its own event too");
    // Exactly once: A's subscribers had it at once, and the copy Redis sends back to A is
    // skipped. B answers after hearing it, and Redis delivers to A in order, so an echo of
    // A's event would reach A before B's answer.
    b.state.bus.publish(Event::Probe { nonce: "b-answers".into() }).await.unwrap();
    let mut again = 0;
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match on_a.recv().await.expect("no lag").event {
                Event::Probe { ref nonce } if nonce == "a-to-b" => again += 1,
                Event::Probe { ref nonce } if nonce == "b-answers" => break,
                _ => {}
            }
        }
    })
    .await
    .expect("A hears B's answer");
    assert_eq!(again, 0, "A hears its own event once");

    // A pipelined batch arrives whole and in order.
    let nonces: Vec<String> = (0..300).map(|i| format!("batch-{i}")).collect();
    let batch = nonces.iter().map(|n| Event::Probe { nonce: n.clone() }).collect();
    a.state.bus.publish_all(batch).await.unwrap();
    let mut heard = Vec::new();
    while heard.len() < nonces.len() {
        let message = tokio::time::timeout(Duration::from_secs(5), on_b.recv())
            .await
            .expect("the batch arrives")
            .expect("no lag");
        if let Event::Probe { nonce } = &message.event
            && nonce.starts_with("batch-")
        {
            heard.push(nonce.clone());
        }
    }
    assert_eq!(heard, nonces, "in publishing order");
    let mut heard_here = Vec::new();
    while let Ok(message) = on_a.try_recv() {
        if let Event::Probe { nonce } = &message.event {
            heard_here.push(nonce.clone());
        }
    }
    assert_eq!(heard_here, nonces, "A's own subscribers, once each, in order");

    // Another deployment on the same Redis (other server_name) hears nothing of ours.
    let other = ScaleOut::fresh().await.unwrap();
    let dir_c = tempfile::tempdir().unwrap();
    let c = spawn_app(other.config(dir_c.path())).await;
    assert!(c.state.bus.wait_subscribed(Duration::from_secs(5)).await);
    let mut on_c = c.state.bus.subscribe();
    a.state.bus.publish(Event::Probe { nonce: "private".into() }).await.unwrap();
    assert!(receive_probe(&mut on_b, "private").await.is_some());
    while let Ok(m) = on_c.try_recv() {
        assert!(!matches!(m.event, Event::Probe { .. }), "channels are namespaced by server_name");
    }
    for app in [a, b, c] {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_survives_a_redis_restart() {
    let Some(scale) = ScaleOut::fresh().await else {
        return;
    };
    let Some(mut redis) = PrivateRedis::start().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config = scale.config(dir_a.path());
    config.redis.url = redis.url();
    let a = spawn_app(config.clone()).await;
    config.data_dir = dir_b.path().to_path_buf();
    let b = spawn_app(config).await;
    assert!(b.state.bus.wait_subscribed(Duration::from_secs(5)).await);
    let mut on_b = b.state.bus.subscribe();
    a.state.bus.publish(Event::Probe { nonce: "before".into() }).await.unwrap();
    assert!(receive_probe(&mut on_b, "before").await.is_some());

    redis.kill();
    assert!(
        a.state.bus.publish(Event::Probe { nonce: "while-down".into() }).await.is_err(),
        "publishing while Redis is down fails clearly instead of hanging"
    );
    redis.restart().await.unwrap();

    // The subscriber reconnects and subscribes again by itself.
    assert!(b.state.bus.wait_subscribed(Duration::from_secs(10)).await, "re-subscribed");
    let delivered = eventually(Duration::from_secs(10), || async {
        let nonce = "after";
        // Listen before publishing, so the answer cannot slip past.
        let mut listening = on_b.resubscribe();
        if a.state.bus.publish(Event::Probe { nonce: nonce.into() }).await.is_err() {
            return false;
        }
        receive_probe(&mut listening, nonce).await.is_some()
    })
    .await;
    assert!(delivered, "events flow again after Redis came back");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_bus_delivers_to_subscribers() {
    let (app, _dir) = spawn_embedded().await;
    let mut rx = app.state.bus.subscribe();
    app.state.bus.publish(Event::Probe { nonce: "local".into() }).await.unwrap();
    let got = receive_probe(&mut rx, "local").await.expect("delivered");
    assert_eq!(got.origin, app.state.instance_id);
    app.stop().await;
}

async fn exercise_cache(cache: &Cache) {
    let key = format!("test:{}", uuid::Uuid::new_v4().simple());
    assert_eq!(cache.get(&key).await.unwrap(), None);
    cache.set(&key, "v", Duration::from_secs(5)).await.unwrap();
    assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some("v"));
    assert_eq!(cache.take(&key).await.unwrap().as_deref(), Some("v"));
    assert_eq!(cache.take(&key).await.unwrap(), None, "take is single-use");

    let counter = format!("{key}:n");
    assert_eq!(cache.incr(&counter, Duration::from_millis(300)).await.unwrap(), 1);
    assert_eq!(cache.incr(&counter, Duration::from_millis(300)).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        cache.incr(&counter, Duration::from_secs(5)).await.unwrap(),
        1,
        "expired, restarted"
    );
    assert_eq!(cache.incr(&counter, Duration::from_secs(5)).await.unwrap(), 2);
    assert_eq!(cache.decr(&counter).await.unwrap(), 1, "decr takes one back");
    assert_eq!(cache.get(&counter).await.unwrap().as_deref(), Some("1"));
    assert_eq!(cache.decr(&counter).await.unwrap(), 0);
    assert_eq!(cache.decr(&counter).await.unwrap(), 0, "never below zero");
    assert!(cache.del(&counter).await.unwrap());
    assert!(!cache.del(&counter).await.unwrap());
    assert_eq!(cache.decr(&counter).await.unwrap(), 0, "a missing counter stays missing");
    assert_eq!(cache.get(&counter).await.unwrap(), None);

    cache.set(&key, "short", Duration::from_millis(100)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(cache.get(&key).await.unwrap(), None, "expired");

    // Claims: one holder at a time, given up only by its holder, free again once expired.
    let claim = format!("{key}:claim");
    assert!(cache.set_nx(&claim, "a", Duration::from_millis(300)).await.unwrap());
    assert!(!cache.set_nx(&claim, "b", Duration::from_secs(5)).await.unwrap(), "held by a");
    assert_eq!(cache.get(&claim).await.unwrap().as_deref(), Some("a"));
    assert!(!cache.del_if(&claim, "b").await.unwrap(), "b cannot free a's claim");
    assert!(cache.del_if(&claim, "a").await.unwrap());
    assert!(!cache.del_if(&claim, "a").await.unwrap(), "already free");
    assert!(cache.set_nx(&claim, "b", Duration::from_millis(100)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(cache.set_nx(&claim, "c", Duration::from_secs(5)).await.unwrap(), "b's expired");
    assert!(cache.del_if(&claim, "c").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_redis_caches_behave_alike() {
    let (app, _dir) = spawn_embedded().await;
    exercise_cache(&app.state.cache).await;
    app.stop().await;

    let Some(scale) = ScaleOut::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(scale.config(dir.path())).await;
    assert!(matches!(app.state.cache, Cache::Redis(_)));
    exercise_cache(&app.state.cache).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_command_after_a_redis_restart_succeeds() {
    let Some(mut redis) = PrivateRedis::start().await else {
        return;
    };
    let pool = jim::bus::redis::pool(&redis.url(), 2).unwrap();
    let cache = jim::bus::redis::RedisCache::new(jim::bus::redis::Commands::new(pool), "restart");
    cache.set("k", "before", Duration::from_secs(60)).await.unwrap();

    // The connection the commands share dies with this server, unused meanwhile; once it
    // has sat idle it is checked before use, so no command fails on it.
    redis.restart().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(cache.get("k").await.unwrap(), None, "the new server is empty");
    cache.set("k", "after", Duration::from_secs(60)).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some("after"));

    // A command that fails on a dead connection retires it: the next one works.
    redis.restart().await.unwrap();
    let _ = cache.get("k").await;
    assert_eq!(cache.get("k").await.unwrap(), None, "a new connection to the new server");
}
