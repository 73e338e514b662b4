//! The message store on the relational database: `rooms` holds each room's sequence, advanced
//! in the same transaction as the `messages` insert; unique indexes on `(room_id, message_id)`
//! and `(sender_id, action_id)` make gaps, duplicates and double sends impossible. Concurrent
//! appends are committed together (group commit): one transaction, one sync to disk, a few
//! statements for a whole batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Instant;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{NewMessage, OnCommit, Page, RoomInfo, StoredMessage};
use crate::config::DatabaseKind;
use crate::db::schema::{messages, rooms};
use crate::db::shaped::{Bound, Shaped, kept_chunks};
use crate::db::{Db, DbError, TRANSACTION_ATTEMPTS, last_insert_id, now_ms, retry_pause};
use crate::db_run;
use crate::domain::MessageStatus;
use crate::error::{AppError, Result};

/// Most messages the SQLite writer commits in one transaction. A batch is whatever queued
/// while the last one committed, so it only grows this large when senders outpace the
/// writer; then a message costs fewer pages: a batch writes each index leaf it touches once
/// to the WAL, however many of its messages went into that leaf. At 256, a batch over 200
/// rooms wrote ~1.8 pages per message, and 17,500 msg/s was more than the box could take.
/// (Its insert binds 11 values a message: 11,264, under SQLite's 32,766.)
const SQLITE_MAX_BATCH: usize = 1024;
/// Most messages the MySQL writer commits in one transaction: this many texts at the default
/// 16 KiB limit stay within MariaDB's default 16 MiB `max_allowed_packet`.
const MYSQL_MAX_BATCH: usize = 256;
/// Appends waiting for a writer; a full queue makes senders wait (back-pressure).
const QUEUE: usize = 4096;
/// Writers committing batches at once on MySQL (SQLite has one writer anyway). One: several
/// writers overlap their round trips, but split the queue into more, smaller batches, and
/// every batch costs MariaDB the same handful of statements; with the per-message reads
/// gone (see `bus::auth_cache`) that cost is what limits the rate.
const MYSQL_WRITERS: usize = 1;

/// A batch that takes longer than this to commit, or a checkpoint to run, is logged (disk or
/// lock trouble).
const SLOW_COMMIT: std::time::Duration = std::time::Duration::from_millis(200);

/// How often the SQLite writer checkpoints between its batches (see [`Db::wal_checkpoint`]);
/// this bounds the WAL to about this much writing. Sends wait behind a checkpoint, so small
/// and often: once a second, each one held the next batch ~12 ms (a p99 spike every second).
const WRITER_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// What the database server lets a batch skip: the statements that only read back what the
/// server could have said.
#[derive(Debug, Clone, Copy)]
struct Features {
    /// A multi-row `INSERT … VALUES` gets consecutive ids in row order, learnt from the last
    /// insert id. SQLite: always (AUTOINCREMENT gives each row the largest id so far plus
    /// one, and no one else inserts while the writer holds the write lock). MySQL: with
    /// `innodb_autoinc_lock_mode` 0 or 1 (MariaDB's default) and an
    /// `auto_increment_increment` of 1; interleaved mode (2, MySQL 8's default, Galera)
    /// promises nothing about a statement's ids, so they are read back by each room's block
    /// of sequence numbers.
    consecutive_ids: bool,
    /// Both statements answer with the rows they wrote (`RETURNING`: SQLite, and MariaDB
    /// since 10.5, whose upsert returns the row as updated): the room upsert each room's new
    /// last sequence number, the insert each message's id. Else the rooms are read after the
    /// upsert, and the ids are learnt as [`Features::consecutive_ids`] says.
    returning: bool,
}

impl Features {
    const SQLITE: Features = Features { consecutive_ids: true, returning: true };
    /// What every MySQL-compatible server offers.
    const PORTABLE: Features = Features { consecutive_ids: false, returning: false };

    /// A MySQL server's, from its auto-increment settings and `VERSION()`.
    fn mysql(lock_mode: i64, increment: i64, version: &str) -> Features {
        let mut numbers = version.split(['.', '-']).map(|n| n.parse::<u32>().unwrap_or(0));
        let release = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        Features {
            consecutive_ids: lock_mode <= 1 && increment == 1,
            returning: version.contains("MariaDB") && release >= (10, 5),
        }
    }
}

/// One append waiting for its batch.
struct Pending {
    message: NewMessage,
    on_commit: OnCommit,
    reply: oneshot::Sender<Result<StoredMessage>>,
}

/// How far one batch advances one room.
struct RoomBump {
    room_id: String,
    session_type: i16,
    count: i64,
    now: i64,
}

/// A row of `messages`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
struct MessageRow {
    id: i64,
    room_id: String,
    message_id: i64,
    session_type: i16,
    message_type: i16,
    sender_id: i64,
    receiver_id: i64,
    action_id: String,
    body: String,
    status: i16,
    created_at: i64,
}

impl From<MessageRow> for StoredMessage {
    fn from(r: MessageRow) -> Self {
        StoredMessage {
            id: r.id.to_string(),
            room_id: r.room_id,
            message_id: r.message_id,
            session_type: r.session_type,
            message_type: r.message_type,
            sender_id: r.sender_id,
            receiver_id: r.receiver_id,
            action_id: r.action_id,
            body: serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
            status: r.status,
            created_at: r.created_at,
        }
    }
}

/// The SQL message store.
#[derive(Clone)]
pub struct SqlStore {
    db: Db,
    appends: mpsc::Sender<Pending>,
    /// The writers' turn to commit and run hooks (see [`BatchWriter`]).
    hooks: Arc<Mutex<()>>,
}

/// The message `$filter` selects (it names a unique key: at most one row), as clients see it.
macro_rules! one_message {
    ($db:expr, $filter:expr) => {{
        let row: Option<MessageRow> = $db
            .run(move |mut conn| async move {
                Ok(db_run!(&mut conn, |c| messages::table
                    .filter($filter)
                    .select(MessageRow::as_select())
                    .first(c)
                    .await
                    .optional())?)
            })
            .await?;
        Ok(row.map(Into::into))
    }};
}

impl SqlStore {
    /// The store and its batch writers (on the current runtime; SQLite's on a thread of its
    /// own, because its commits sync to disk on the calling thread).
    pub fn new(db: Db) -> Self {
        Self::start(db, None)
    }

    /// The store, its MySQL writers using only what every MySQL-compatible server offers
    /// (rooms and row ids read back after the writes), whatever this server could do: the
    /// path MySQL 8 and servers in interleaved auto-increment mode take, for its tests.
    #[doc(hidden)]
    pub fn portable(db: Db) -> Self {
        Self::start(db, Some(Features::PORTABLE))
    }

    /// `features`: what MySQL writers may rely on (`None`: ask the server at the first batch).
    #[allow(clippy::expect_used, reason = "start-up: without its writers the store cannot run")]
    fn start(db: Db, features: Option<Features>) -> Self {
        let (appends, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        let store = Self { db: db.clone(), appends, hooks: Arc::new(Mutex::new(())) };
        match db.kind() {
            DatabaseKind::Sqlite => {
                let writer = BatchWriter {
                    db: db.own_connection().expect("a pool for the SQLite writer"),
                    hooks: store.hooks.clone(),
                    max_batch: SQLITE_MAX_BATCH,
                    features: Arc::new(OnceLock::from(Features::SQLITE)),
                };
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the SQLite writer");
                std::thread::Builder::new()
                    .name("jim-sqlite-writer".into())
                    .spawn(move || runtime.block_on(writer.write_batches(queue)))
                    .expect("the SQLite writer thread");
            }
            DatabaseKind::Mysql => {
                for _ in 0..MYSQL_WRITERS {
                    let writer = BatchWriter {
                        db: db.own_connection().expect("a pool for a MySQL writer"),
                        hooks: store.hooks.clone(),
                        max_batch: MYSQL_MAX_BATCH,
                        features: Arc::new(features.map(OnceLock::from).unwrap_or_default()),
                    };
                    tokio::spawn(writer.write_batches(queue.clone()));
                }
            }
        }
        store
    }

    /// Append, and run `on_commit` once the message is durable, before answering. Appends in
    /// flight together are committed in one transaction, and their `on_commit`s run in
    /// commit order (so pushes of one room leave in `message_id` order).
    pub async fn append_then(
        &self,
        message: NewMessage,
        on_commit: OnCommit,
    ) -> Result<StoredMessage> {
        let (reply, answer) = oneshot::channel();
        self.appends
            .send(Pending { message, on_commit, reply })
            .await
            .map_err(|_| AppError::Unavailable(anyhow::anyhow!("the message writer stopped")))?;
        answer
            .await
            .map_err(|_| AppError::Unavailable(anyhow::anyhow!("the message writer stopped")))?
    }

    pub async fn find_by_action(
        &self,
        sender_id: i64,
        action_id: &str,
    ) -> Result<Option<StoredMessage>> {
        find_by_action(&self.db, sender_id, action_id).await
    }
}

/// Commits queued appends in batches.
struct BatchWriter {
    db: Db,
    /// Taken by a writer after its transaction's last statement and held through its COMMIT
    /// and its hooks: with several writers (MySQL), hooks then run in commit order. The
    /// holder has all its row locks already, so it never waits for another writer.
    hooks: Arc<Mutex<()>>,
    /// Most messages in one transaction.
    max_batch: usize,
    /// What the server lets a batch skip (MySQL's asked of the server at the first batch).
    features: Arc<OnceLock<Features>>,
}

/// A writer's turn to commit and run its hooks.
type HookTurn = tokio::sync::OwnedMutexGuard<()>;

impl BatchWriter {
    async fn write_batches(self, queue: Arc<Mutex<mpsc::Receiver<Pending>>>) {
        let mut checkpointed = Instant::now();
        loop {
            let mut batch = Vec::new();
            {
                let mut queue = queue.lock().await;
                if queue.recv_many(&mut batch, self.max_batch).await == 0 {
                    return;
                }
            }
            self.commit(batch).await;
            if checkpointed.elapsed() >= WRITER_CHECKPOINT_EVERY {
                let started = Instant::now();
                if let Err(e) = self.db.wal_checkpoint().await {
                    slog_scope::warn!("message writer checkpoint failed"; "error" => e.to_string());
                }
                // Sends wait behind it as behind a commit.
                let took = started.elapsed();
                if took > SLOW_COMMIT {
                    slog_scope::warn!("slow message checkpoint"; "ms" => took.as_millis() as u64);
                }
                checkpointed = Instant::now();
            }
        }
    }

    /// Commit a batch in one transaction; if that fails (a repeated action id, a lost race for
    /// a new room, a deadlock), append its messages one by one, each with its own answer.
    async fn commit(&self, batch: Vec<Pending>) {
        let started = std::time::Instant::now();
        let size = batch.len();
        self.commit_batch(batch).await;
        let took = started.elapsed();
        metrics::histogram!("jim_message_batch_size").record(size as f64);
        metrics::histogram!("jim_message_commit_seconds").record(took.as_secs_f64());
        if took > SLOW_COMMIT {
            slog_scope::warn!("slow message commit"; "messages" => size, "ms" => took.as_millis() as u64);
        }
    }

    async fn commit_batch(&self, batch: Vec<Pending>) {
        let (messages, waiters): (Vec<NewMessage>, Vec<_>) =
            batch.into_iter().map(|p| (p.message, (p.on_commit, p.reply))).unzip();
        let messages = Arc::new(messages);
        // One message too: the batch's statements are fewer than a lone append's, which
        // reads the room's end and the row's id back (on MariaDB four round trips, not six).
        let committed = self.try_append_batch(messages.clone()).await.ok();
        match committed {
            Some((stored, turn)) => {
                for ((on_commit, reply), message) in waiters.into_iter().zip(stored) {
                    on_commit(&message);
                    let _ = reply.send(Ok(message));
                }
                drop(turn);
            }
            None => {
                for (message, (on_commit, reply)) in messages.iter().zip(waiters) {
                    let result = self.append_one(message.clone()).await.map(|(message, turn)| {
                        on_commit(&message);
                        drop(turn);
                        message
                    });
                    let _ = reply.send(result);
                }
            }
        }
    }

    /// One transaction for the whole batch: advance every room once by its count (rooms in a
    /// fixed order, so concurrent writers lock them in the same order) and learn the new ends,
    /// insert all rows, learn their ids (read back only where [`Features`] say the server
    /// could not tell).
    async fn try_append_batch(
        &self,
        batch: Arc<Vec<NewMessage>>,
    ) -> std::result::Result<(Vec<StoredMessage>, HookTurn), DbError> {
        let hooks = self.hooks.clone();
        let mut bumps: Vec<RoomBump> = Vec::new();
        {
            let mut index: HashMap<&str, usize> = HashMap::new();
            for m in batch.iter() {
                match index.get(m.room_id.as_str()) {
                    Some(&i) => {
                        bumps[i].count += 1;
                        bumps[i].now = bumps[i].now.max(m.created_at);
                    }
                    None => {
                        index.insert(&m.room_id, bumps.len());
                        bumps.push(RoomBump {
                            room_id: m.room_id.clone(),
                            session_type: m.session_type,
                            count: 1,
                            now: m.created_at,
                        });
                    }
                }
            }
        }
        bumps.sort_by(|a, b| a.room_id.cmp(&b.room_id));
        let mysql = self.db.kind() == DatabaseKind::Mysql;
        let features = self.features.clone();
        let implicit = self.db.opens_transactions();
        // The batch's statements, up to taking the hooks' turn (then COMMIT).
        macro_rules! statements {
            ($c:ident) => {{
                let features = match features.get() {
                    Some(known) => *known,
                    None => {
                        let (mode, increment, version) =
                            mysql_settings().get_result::<(i64, i64, String)>($c).await?;
                        *features.get_or_init(|| Features::mysql(mode, increment, &version))
                    }
                };
                let mut ends: HashMap<String, i64> = HashMap::new();
                if features.returning {
                    for chunk in kept_chunks(&bumps) {
                        let advanced = rooms_advance(chunk, mysql, true);
                        ends.extend(advanced.load::<(String, i64)>($c).await?);
                    }
                } else {
                    for chunk in kept_chunks(&bumps) {
                        rooms_advance(chunk, mysql, false).execute($c).await?;
                    }
                    let room_ids: Vec<&str> = bumps.iter().map(|b| b.room_id.as_str()).collect();
                    for chunk in kept_chunks(&room_ids) {
                        ends.extend(room_ends(chunk).load::<(String, i64)>($c).await?);
                    }
                }
                // Each room's new block of ids: first..=end.
                let blocks: Vec<(&str, i64, i64)> = bumps
                    .iter()
                    .map(|b| {
                        let end = ends.get(&b.room_id).copied().unwrap_or(b.count);
                        (b.room_id.as_str(), end - b.count + 1, end)
                    })
                    .collect();
                // Each message with the id it gets, in arrival order.
                let mut next: HashMap<&str, i64> =
                    blocks.iter().map(|&(room, first, _)| (room, first)).collect();
                let rows: Vec<(&NewMessage, i64)> = batch
                    .iter()
                    .map(|m| {
                        let id = next.get_mut(m.room_id.as_str()).expect("bumped room");
                        *id += 1;
                        (m, *id - 1)
                    })
                    .collect();
                let row_ids: Vec<Option<i64>> = if features.returning {
                    let mut returned = Vec::with_capacity(rows.len());
                    for chunk in kept_chunks(&rows) {
                        let insert = messages_insert::<(Text, BigInt, BigInt)>(chunk, true);
                        returned.extend(insert.load::<(String, i64, i64)>($c).await?);
                    }
                    ids_by_sequence(&rows, &returned)
                } else if features.consecutive_ids {
                    let mut ids = Vec::with_capacity(rows.len());
                    for chunk in kept_chunks(&rows) {
                        messages_insert::<()>(chunk, false).execute($c).await?;
                        // SQLite reports the last row's id, MySQL the first's.
                        let reported = last_insert_id($c).await?;
                        let n = chunk.len() as i64;
                        let first = if mysql { reported } else { reported - n + 1 };
                        ids.extend((first..first + n).map(Some));
                    }
                    ids
                } else {
                    for chunk in kept_chunks(&rows) {
                        messages_insert::<()>(chunk, false).execute($c).await?;
                    }
                    let mut loaded = Vec::new();
                    for chunk in kept_chunks(&blocks) {
                        loaded.extend(inserted_ids(chunk).load::<(String, i64, i64)>($c).await?);
                    }
                    ids_by_sequence(&rows, &loaded)
                };
                let stored = rows
                    .into_iter()
                    .zip(row_ids)
                    .map(|((m, message_id), id)| {
                        m.stored(id.map(|id| id.to_string()).unwrap_or_default(), message_id)
                    })
                    .collect();
                Ok::<_, DbError>((stored, hooks.lock_owned().await))
            }};
        }
        // Held until the COMMIT returns; the hooks run after, outside it.
        let _turn = self.db.sqlite_message_write_turn().await;
        self.db
            .run(move |mut conn| async move {
                db_run!(
                    &mut conn,
                    sqlite | c | c.transaction(async |c| statements!(c)).await,
                    mysql | c | {
                        if implicit {
                            // The first statement opened the transaction (no BEGIN round trip);
                            // whatever fails, a COMMIT included, leaves none open behind it.
                            let committed = async {
                                let done = statements!(c)?;
                                c.batch_execute("COMMIT").await?;
                                Ok(done)
                            }
                            .await;
                            if committed.is_err() {
                                let _ = c.batch_execute("ROLLBACK").await;
                            }
                            committed
                        } else {
                            c.transaction(async |c| statements!(c)).await
                        }
                    }
                )
            })
            .await
    }

    /// Append one message in its own transaction (with the repeat and retry rules); a repeat
    /// is answered with the original, which committed (and ran its hook) before.
    async fn append_one(&self, m: NewMessage) -> Result<(StoredMessage, Option<HookTurn>)> {
        // No look-up first: the unique (sender_id, action_id) index turns a repeat into a
        // rolled-back attempt, answered below with the original message.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_append(m.clone()).await {
                Ok((message, turn)) => return Ok((message, Some(turn))),
                // A concurrent send with the same action id won: its message is the answer.
                // (Otherwise two first messages raced to create the room: try again.)
                Err(e) if e.is_unique_violation() => {
                    if let Some(existing) =
                        find_by_action(&self.db, m.sender_id, &m.action_id).await?
                    {
                        return Ok((existing, None));
                    }
                    if attempt >= TRANSACTION_ATTEMPTS {
                        return Err(e.into());
                    }
                }
                Err(e) if e.is_retryable() && attempt < TRANSACTION_ATTEMPTS => {
                    retry_pause(attempt).await
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One attempt: advance the room's sequence and insert, in one transaction. The first
    /// statement is a write, so SQLite takes its write lock at once (no read-then-upgrade
    /// deadlock) and MySQL takes the room row's exclusive lock directly.
    async fn try_append(
        &self,
        m: NewMessage,
    ) -> std::result::Result<(StoredMessage, HookTurn), DbError> {
        let hooks = self.hooks.clone();
        let _turn = self.db.sqlite_message_write_turn().await;
        self.db
            .run(move |mut conn| async move {
                db_run!(&mut conn, |c| {
                    c.transaction(async |c| {
                        let now = m.created_at;
                        let bumped = room_step(&m.room_id, now).execute(c).await?;
                        let message_id: i64 = if bumped == 0 {
                            diesel::insert_into(rooms::table)
                                .values((
                                    rooms::room_id.eq(&m.room_id),
                                    rooms::session_type.eq(m.session_type),
                                    rooms::last_message_id.eq(1),
                                    rooms::created_at.eq(now),
                                    rooms::updated_at.eq(now),
                                ))
                                .execute(c)
                                .await?;
                            1
                        } else {
                            rooms::table
                                .find(&m.room_id)
                                .select(rooms::last_message_id)
                                .first(c)
                                .await?
                        };
                        diesel::insert_into(messages::table)
                            .values((
                                messages::room_id.eq(&m.room_id),
                                messages::message_id.eq(message_id),
                                messages::session_type.eq(m.session_type),
                                messages::message_type.eq(m.message_type),
                                messages::sender_id.eq(m.sender_id),
                                messages::receiver_id.eq(m.receiver_id),
                                messages::action_id.eq(&m.action_id),
                                messages::body.eq(&m.body),
                                messages::status.eq(MessageStatus::Normal.as_i16()),
                                messages::created_at.eq(now),
                                messages::updated_at.eq(now),
                            ))
                            .execute(c)
                            .await?;
                        let id = last_insert_id(c).await?;
                        Ok::<_, DbError>((
                            m.stored(id.to_string(), message_id),
                            hooks.lock_owned().await,
                        ))
                    })
                    .await
                })
            })
            .await
    }
}

impl SqlStore {
    pub async fn get(&self, room_id: &str, message_id: i64) -> Result<Option<StoredMessage>> {
        let room_id = room_id.to_string();
        one_message!(
            self.db,
            messages::room_id.eq(&room_id).and(messages::message_id.eq(message_id))
        )
    }

    pub async fn page(&self, room_id: &str, page: Page, limit: i64) -> Result<Vec<StoredMessage>> {
        let room_id = room_id.to_string();
        let limit = limit.max(1);
        let mut rows = self
            .db
            .run(move |mut conn| async move {
                db_run!(&mut conn, |c| {
                    let base = messages::table.filter(messages::room_id.eq(&room_id)).into_boxed();
                    let query = match page {
                        Page::Latest => base.order(messages::message_id.desc()),
                        Page::Before(id) => base
                            .filter(messages::message_id.lt(id))
                            .order(messages::message_id.desc()),
                        Page::After(id) => base
                            .filter(messages::message_id.gt(id))
                            .order(messages::message_id.asc()),
                    };
                    Ok(query.limit(limit).select(MessageRow::as_select()).load(c).await?)
                })
            })
            .await?;
        rows.sort_by_key(|r| r.message_id);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn sent_by(
        &self,
        sender_id: i64,
        after: &str,
        limit: i64,
    ) -> Result<Vec<StoredMessage>> {
        let after: i64 = if after.is_empty() {
            0
        } else {
            after.parse().map_err(|_| AppError::invalid("not a message id of this store"))?
        };
        let limit = limit.max(1);
        let rows = self
            .db
            .run(move |mut conn| async move {
                db_run!(&mut conn, |c| {
                    Ok(messages::table
                        .filter(messages::sender_id.eq(sender_id))
                        .filter(messages::id.gt(after))
                        .order(messages::id.asc())
                        .limit(limit)
                        .select(MessageRow::as_select())
                        .load(c)
                        .await?)
                })
            })
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn erase_sender(&self, sender_id: i64) -> Result<u64> {
        let _turn = self.db.sqlite_write_turn().await;
        let changed = self
            .db
            .run(move |mut conn| async move {
                db_run!(&mut conn, |c| {
                    Ok::<_, DbError>(
                        diesel::update(
                            messages::table.filter(messages::sender_id.eq(sender_id)).filter(
                                messages::body
                                    .ne("{}")
                                    .or(messages::status.ne(MessageStatus::Recalled.as_i16())),
                            ),
                        )
                        .set((
                            messages::status.eq(MessageStatus::Recalled.as_i16()),
                            messages::body.eq("{}"),
                            messages::updated_at.eq(now_ms()),
                        ))
                        .execute(c)
                        .await?,
                    )
                })
            })
            .await?;
        Ok(changed as u64)
    }

    pub async fn rooms(&self, room_ids: Vec<String>) -> Result<Vec<RoomInfo>> {
        if room_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, i16, i64, i64)> = self
            .db
            .run(move |mut conn| async move {
                Ok(db_run!(&mut conn, |c| rooms::table
                    .filter(rooms::room_id.eq_any(&room_ids))
                    .select((
                        rooms::room_id,
                        rooms::session_type,
                        rooms::last_message_id,
                        rooms::updated_at
                    ))
                    .load(c)
                    .await)?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(room_id, session_type, last_message_id, updated_at)| RoomInfo {
                room_id,
                session_type,
                last_message_id,
                updated_at,
            })
            .collect())
    }

    pub async fn recall(
        &self,
        room_id: &str,
        message_id: i64,
        sender: Option<i64>,
        not_before_ms: Option<i64>,
    ) -> Result<Option<StoredMessage>> {
        let room = room_id.to_string();
        let changed = self
            .db
            .run(move |mut conn| async move {
                db_run!(&mut conn, |c| {
                    let mut target = messages::table
                        .filter(messages::room_id.eq(&room))
                        .filter(messages::message_id.eq(message_id))
                        .filter(messages::status.eq(MessageStatus::Normal.as_i16()))
                        .into_boxed();
                    if let Some(sender) = sender {
                        target = target.filter(messages::sender_id.eq(sender));
                    }
                    if let Some(t) = not_before_ms {
                        target = target.filter(messages::created_at.ge(t));
                    }
                    let ids: Vec<i64> = target.select(messages::id).load(c).await?;
                    if ids.is_empty() {
                        return Ok::<_, DbError>(0);
                    }
                    Ok(diesel::update(
                        messages::table
                            .filter(messages::id.eq_any(&ids))
                            .filter(messages::status.eq(MessageStatus::Normal.as_i16())),
                    )
                    .set((
                        messages::status.eq(MessageStatus::Recalled.as_i16()),
                        messages::updated_at.eq(now_ms()),
                    ))
                    .execute(c)
                    .await?)
                })
            })
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        self.get(room_id, message_id).await
    }

    pub async fn count_after(
        &self,
        room_id: &str,
        after_id: i64,
        exclude_sender: i64,
    ) -> Result<i64> {
        let room_id = room_id.to_string();
        Ok(self
            .db
            .run(move |mut conn| async move {
                Ok(db_run!(&mut conn, |c| messages::table
                    .filter(messages::room_id.eq(&room_id))
                    .filter(messages::message_id.gt(after_id))
                    .filter(messages::sender_id.ne(exclude_sender))
                    .count()
                    .get_result(c)
                    .await)?)
            })
            .await?)
    }
}

/// The message `sender_id` stored under `action_id`, if any.
async fn find_by_action(db: &Db, sender_id: i64, action_id: &str) -> Result<Option<StoredMessage>> {
    let action_id = action_id.to_string();
    one_message!(db, messages::sender_id.eq(sender_id).and(messages::action_id.eq(&action_id)))
}

/// `UPDATE rooms` advancing one room by one message (kept prepared: diesel prepares every
/// `UPDATE` anew).
fn room_step(room_id: &str, now: i64) -> Shaped<'_, ()> {
    let sql = "UPDATE rooms SET last_message_id = last_message_id + 1, updated_at = ? \
               WHERE room_id = ?";
    Shaped::new(sql, vec![Bound::Big(now), Bound::Text(room_id)], 1)
}

/// `INSERT … ON CONFLICT` advancing each room by its count (creating rooms seen first), one
/// statement for the batch. The spelling of the upsert differs per backend; the binds don't.
/// With `returning`, it answers each room's new last sequence number (else see
/// [`room_ends`]).
fn rooms_advance(bumps: &[RoomBump], mysql: bool, returning: bool) -> Shaped<'_, (Text, BigInt)> {
    let upsert = if mysql {
        "ON DUPLICATE KEY UPDATE last_message_id = last_message_id + VALUES(last_message_id), \
         updated_at = GREATEST(updated_at, VALUES(updated_at))"
    } else {
        "ON CONFLICT (room_id) DO UPDATE SET \
         last_message_id = last_message_id + excluded.last_message_id, \
         updated_at = MAX(updated_at, excluded.updated_at)"
    };
    let returning = if returning { " RETURNING room_id, last_message_id" } else { "" };
    let sql = format!(
        "INSERT INTO rooms (room_id, session_type, last_message_id, created_at, updated_at) \
         VALUES {} {upsert}{returning}",
        vec!["(?, ?, ?, ?, ?)"; bumps.len()].join(", ")
    );
    let binds = bumps
        .iter()
        .flat_map(|b| {
            [
                Bound::Text(&b.room_id),
                Bound::Small(b.session_type),
                Bound::Big(b.count),
                Bound::Big(b.now),
                Bound::Big(b.now),
            ]
        })
        .collect();
    Shaped::new(sql, binds, bumps.len())
}

/// MySQL's `innodb_autoinc_lock_mode`, this session's `auto_increment_increment` and the
/// server's version (see [`Features::mysql`]).
fn mysql_settings() -> Shaped<'static, (BigInt, BigInt, Text)> {
    let sql = "SELECT CAST(@@innodb_autoinc_lock_mode AS SIGNED), \
               CAST(@@auto_increment_increment AS SIGNED), VERSION()";
    Shaped::new(sql, Vec::new(), 0)
}

/// Each room's last sequence number (MySQL, after [`rooms_advance`]).
fn room_ends<'a>(room_ids: &[&'a str]) -> Shaped<'a, (Text, BigInt)> {
    let sql = format!(
        "SELECT room_id, last_message_id FROM rooms WHERE room_id IN ({})",
        vec!["?"; room_ids.len()].join(", ")
    );
    Shaped::new(sql, room_ids.iter().map(|r| Bound::Text(r)).collect(), room_ids.len())
}

/// One multi-row `INSERT` for the batch's messages, each with the id it gets; `returning`:
/// answering each row's room, sequence number and id.
fn messages_insert<'a, ST: 'static>(
    rows: &[(&'a NewMessage, i64)],
    returning: bool,
) -> Shaped<'a, ST> {
    let sql = format!(
        "INSERT INTO messages (room_id, message_id, session_type, type, sender_id, receiver_id, \
         action_id, body, status, created_at, updated_at) VALUES {}{}",
        vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows.len()].join(", "),
        if returning { " RETURNING room_id, message_id, id" } else { "" }
    );
    let binds = rows
        .iter()
        .flat_map(|&(m, message_id)| {
            [
                Bound::Text(&m.room_id),
                Bound::Big(message_id),
                Bound::Small(m.session_type),
                Bound::Small(m.message_type),
                Bound::Big(m.sender_id),
                Bound::Big(m.receiver_id),
                Bound::Text(&m.action_id),
                Bound::Text(&m.body),
                Bound::Small(MessageStatus::Normal.as_i16()),
                Bound::Big(m.created_at),
                Bound::Big(m.created_at),
            ]
        })
        .collect();
    Shaped::new(sql, binds, rows.len())
}

/// The row ids of each room's new block of sequence numbers (one index range per room; MySQL
/// in interleaved auto-increment mode, whose concurrent inserts may interleave their ids). Not
/// by (sender, action): `IN` lists on both columns probe every combination, quadratic in the
/// batch size.
fn inserted_ids<'a>(blocks: &[(&'a str, i64, i64)]) -> Shaped<'a, (Text, BigInt, BigInt)> {
    let sql = format!(
        "SELECT room_id, message_id, id FROM messages WHERE {}",
        vec!["(room_id = ? AND message_id BETWEEN ? AND ?)"; blocks.len()].join(" OR ")
    );
    let binds = blocks
        .iter()
        .flat_map(|&(room, first, end)| [Bound::Text(room), Bound::Big(first), Bound::Big(end)])
        .collect();
    Shaped::new(sql, binds, blocks.len())
}

/// Each row's id, from (room, sequence number, id) triples in any order.
fn ids_by_sequence(rows: &[(&NewMessage, i64)], found: &[(String, i64, i64)]) -> Vec<Option<i64>> {
    let ids: HashMap<(&str, i64), i64> =
        found.iter().map(|(room, message_id, id)| ((room.as_str(), *message_id), *id)).collect();
    rows.iter()
        .map(|&(m, message_id)| ids.get(&(m.room_id.as_str(), message_id)).copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Features;

    #[test]
    fn what_a_mysql_server_lets_a_batch_skip() {
        let mariadb = Features::mysql(1, 1, "10.11.19-MariaDB-0+deb12u1");
        assert!(mariadb.consecutive_ids && mariadb.returning);
        let old_mariadb = Features::mysql(1, 1, "10.4.34-MariaDB");
        assert!(old_mariadb.consecutive_ids && !old_mariadb.returning);
        let mysql = Features::mysql(2, 1, "8.0.36");
        assert!(!mysql.consecutive_ids && !mysql.returning);
        assert!(!Features::mysql(1, 2, "11.4.2-MariaDB").consecutive_ids, "increment 2");
        assert!(Features::mysql(0, 1, "11.4.2-MariaDB").returning);
    }
}
