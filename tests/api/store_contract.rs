//! One contract suite for every message store (the delivery contract, README "Delivery contract"): the SQLite
//! store (embedded profile), the MySQL store (scale-out profile) and the MongoDB store (when
//! `JIM_TEST_MONGODB_URL` is set). Each case talks to the store through `jim::store` only and
//! uses its own room ids, so the cases are independent of each other.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use jim::domain::{MessageStatus, SessionType};
use jim::store::sql::SqlStore;
use jim::store::{MessageStore, NewMessage, Page, StoredMessage};
use tokio::task::JoinSet;

use crate::helpers::{Profile, free_port, start, test_config};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A text message; `created_at` is now.
fn text(room: &str, sender: i64, action_id: &str, text: &str) -> NewMessage {
    NewMessage {
        room_id: room.to_string(),
        session_type: SessionType::Group.as_i16(),
        message_type: 1,
        sender_id: sender,
        receiver_id: 7,
        action_id: action_id.to_string(),
        body: serde_json::json!({ "text": text }).to_string(),
        created_at: now_ms(),
    }
}

/// Every message of `room`, ascending, read forwards in pages of 100.
async fn all_messages(store: &MessageStore, room: &str) -> Vec<StoredMessage> {
    let mut out: Vec<StoredMessage> = Vec::new();
    loop {
        let after = out.last().map_or(0, |m| m.message_id);
        let page = store.page(room, Page::After(after), 100).await.expect("page");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// The room's numbers are exactly 1..=N (no duplicates, no holes) and N is its
/// `last_message_id`.
async fn assert_contiguous(store: &MessageStore, room: &str) -> Vec<StoredMessage> {
    let all = all_messages(store, room).await;
    let ids: Vec<i64> = all.iter().map(|m| m.message_id).collect();
    let expected: Vec<i64> = (1..=all.len() as i64).collect();
    assert_eq!(ids, expected, "room {room}: message ids must be 1..=N");
    let rooms = store.rooms(vec![room.to_string()]).await.expect("rooms");
    assert_eq!(rooms.len(), 1, "room {room} known");
    assert_eq!(rooms[0].last_message_id, all.len() as i64, "room {room}: last_message_id");
    all
}

/// Whether `m` is a store-made filler for a number whose message was not stored (only the
/// MongoDB store makes them, when a duplicate send loses the race after allocating).
fn is_filler(m: &StoredMessage) -> bool {
    m.sender_id == 0 && m.status == MessageStatus::Deleted
}

/// (a) 40 concurrent appenders × 10 messages into one room each and 10 into a shared room →
/// ids exactly 1..=400 in the shared room, 1..=10 in each own room; every answer carries the
/// store-wide id its message was stored under (appends in flight together are committed in
/// one batch, whose ids the store works out rather than reads one by one; batches of more
/// than 16 are written in several statements).
async fn concurrent_appends_are_contiguous(store: &MessageStore, prefix: &str) {
    let room = format!("{prefix}-conc");
    let mut tasks = JoinSet::new();
    for sender in 1..=40_i64 {
        let (store, room) = (store.clone(), room.clone());
        tasks.spawn(async move {
            let own = format!("{room}-own-{sender}");
            let mut ids = Vec::new();
            let mut answers = Vec::new();
            for i in 0..10 {
                let m = text(&room, sender, &format!("{room}-{sender}-{i}"), &format!("m{i}"));
                let stored = store.append(m).await.expect("append");
                assert_eq!(stored.sender_id, sender);
                assert_eq!(stored.status, MessageStatus::Normal.as_i16());
                ids.push(stored.message_id);
                answers.push(stored);
                let m = text(&own, sender, &format!("{own}-{i}"), &format!("o{i}"));
                let stored = store.append(m).await.expect("append to own room");
                assert_eq!(stored.message_id, i + 1, "{own}");
                answers.push(stored);
            }
            // One sender's messages are numbered in the order it sent them.
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "sender {sender}: {ids:?}");
            (ids, answers)
        });
    }
    let mut ids: Vec<i64> = Vec::new();
    let mut answers = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (some, answered) = r.expect("appender");
        ids.extend(some);
        answers.extend(answered);
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=400).collect::<Vec<i64>>(), "allocated ids");
    let all = assert_contiguous(store, &room).await;
    assert_eq!(all.len(), 400);
    assert!(all.iter().all(|m| m.status == MessageStatus::Normal && m.sender_id > 0));
    let distinct: HashSet<&str> = all.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(distinct.len(), 400, "store-wide ids are distinct");
    for answer in &answers {
        let stored = store.get(&answer.room_id, answer.message_id).await.expect("get");
        let stored = stored.expect("the answered message is stored");
        assert_eq!(
            stored.id, answer.id,
            "answered id of {} #{}",
            answer.room_id, answer.message_id
        );
        assert_eq!(stored.action_id, answer.action_id);
    }
}

/// (b) The same (sender, action_id) appended concurrently 10 times → one stored message, all
/// answers identical.
async fn concurrent_duplicates_store_once(store: &MessageStore, prefix: &str) {
    let room = format!("{prefix}-dup");
    let action = format!("{prefix}-same-action");
    // Someone else's message first, so the duplicate's number is not trivially 1.
    store.append(text(&room, 99, &format!("{prefix}-other"), "first")).await.expect("append");
    let template = text(&room, 42, &action, "hello once");
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let (store, m) = (store.clone(), template.clone());
        tasks.spawn(async move { store.append(m).await.expect("append") });
    }
    let mut answers = Vec::new();
    while let Some(r) = tasks.join_next().await {
        answers.push(r.expect("appender"));
    }
    let first = answers[0].clone();
    for a in &answers {
        assert_eq!(a, &first, "all answers identical");
    }
    assert_eq!(first.sender_id, 42);
    assert_eq!(first.action_id, action);
    assert_eq!(first.body, serde_json::json!({ "text": "hello once" }));
    // A later retry gets the same answer too.
    assert_eq!(store.append(template).await.expect("retry"), first);

    let all = assert_contiguous(store, &room).await;
    let real: Vec<&StoredMessage> = all.iter().filter(|m| !is_filler(m)).collect();
    assert_eq!(real.len(), 2, "one stored copy of the duplicate: {all:?}");
    let stored: Vec<&&StoredMessage> = real.iter().filter(|m| m.sender_id == 42).collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(**stored[0], first);
    assert_eq!(store.get(&room, first.message_id).await.expect("get"), Some(first));
}

/// (c) 10 000 messages, paged forwards (`After`) and backwards (`Before`) in pages of 50:
/// each message visited exactly once, in order.
async fn paging_visits_each_message_once(store: &MessageStore, prefix: &str) {
    const TOTAL: i64 = 10_000;
    const APPENDERS: i64 = 8;
    const PAGE: i64 = 50;
    let room = format!("{prefix}-paging");
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for sender in 1..=APPENDERS {
        let (store, room) = (store.clone(), room.clone());
        tasks.spawn(async move {
            for i in 0..TOTAL / APPENDERS {
                let m = text(&room, sender, &format!("{room}-{sender}-{i}"), "p");
                store.append(m).await.expect("append");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("appender");
    }
    eprintln!("  [{prefix}] filled {TOTAL} messages in {:?}", started.elapsed());

    // Forwards.
    let mut seen = HashSet::new();
    let mut cursor = 0;
    loop {
        let page = store.page(&room, Page::After(cursor), PAGE).await.expect("page after");
        if page.is_empty() {
            break;
        }
        assert!(page.len() as i64 <= PAGE);
        let ids: Vec<i64> = page.iter().map(|m| m.message_id).collect();
        let expected: Vec<i64> = (cursor + 1..=cursor + ids.len() as i64).collect();
        assert_eq!(ids, expected, "forward page after {cursor}: ascending, no gap");
        assert!(
            page.len() as i64 == PAGE || cursor + page.len() as i64 == TOTAL,
            "short page only at the end"
        );
        for m in &page {
            assert!(seen.insert(m.message_id), "visited twice: {}", m.message_id);
        }
        cursor = *ids.last().unwrap();
    }
    assert_eq!(seen.len() as i64, TOTAL);
    assert_eq!(cursor, TOTAL);

    // Backwards.
    let mut seen = HashSet::new();
    let mut cursor = TOTAL + 1;
    loop {
        let page = store.page(&room, Page::Before(cursor), PAGE).await.expect("page before");
        if page.is_empty() {
            break;
        }
        assert!(page.len() as i64 <= PAGE);
        let ids: Vec<i64> = page.iter().map(|m| m.message_id).collect();
        let expected: Vec<i64> = (cursor - ids.len() as i64..cursor).collect();
        assert_eq!(ids, expected, "backward page before {cursor}: ascending, no gap");
        assert!(page.len() as i64 == PAGE || ids[0] == 1, "short page only at the start");
        for m in &page {
            assert!(seen.insert(m.message_id), "visited twice: {}", m.message_id);
        }
        cursor = ids[0];
    }
    assert_eq!(seen.len() as i64, TOTAL);
    assert_eq!(cursor, 1);

    // The newest page.
    let latest = store.page(&room, Page::Latest, PAGE).await.expect("latest");
    let ids: Vec<i64> = latest.iter().map(|m| m.message_id).collect();
    assert_eq!(ids, (TOTAL - PAGE + 1..=TOTAL).collect::<Vec<i64>>());
    let rooms = store.rooms(vec![room.clone()]).await.expect("rooms");
    assert_eq!(rooms[0].last_message_id, TOTAL);
}

/// (d) Recall: only the matching sender within the time window; the number stays, the page
/// shows a tombstone; a second recall does nothing.
async fn recall_leaves_a_tombstone(store: &MessageStore, prefix: &str) {
    let room = format!("{prefix}-recall");
    let before = now_ms();
    let a = store.append(text(&room, 1, &format!("{prefix}-r1"), "one")).await.expect("append");
    let b = store.append(text(&room, 2, &format!("{prefix}-r2"), "two")).await.expect("append");
    let c = store.append(text(&room, 1, &format!("{prefix}-r3"), "three")).await.expect("append");

    // Wrong sender, window already over, missing message: nothing changes.
    assert_eq!(store.recall(&room, b.message_id, Some(1), None).await.expect("recall"), None);
    let later = b.created_at + 60_000;
    assert_eq!(
        store.recall(&room, b.message_id, Some(2), Some(later)).await.expect("recall"),
        None
    );
    assert_eq!(store.recall(&room, 99, Some(2), None).await.expect("recall"), None);
    assert_eq!(store.recall("no-such-room", 1, None, None).await.expect("recall"), None);
    assert_eq!(
        store.get(&room, b.message_id).await.expect("get").expect("b").status,
        MessageStatus::Normal.as_i16()
    );

    // The sender, inside the window.
    let recalled = store
        .recall(&room, b.message_id, Some(2), Some(before - 1))
        .await
        .expect("recall")
        .expect("recalled");
    assert_eq!(recalled.status, MessageStatus::Recalled.as_i16());
    assert_eq!((recalled.id.as_str(), recalled.message_id), (b.id.as_str(), b.message_id));
    assert_eq!(recalled.sender_id, 2);
    // Only once.
    assert_eq!(store.recall(&room, b.message_id, Some(2), None).await.expect("recall"), None);
    assert_eq!(store.recall(&room, b.message_id, None, None).await.expect("recall"), None);

    // Without a sender condition (an admin's recall).
    let by_admin =
        store.recall(&room, a.message_id, None, None).await.expect("recall").expect("recalled");
    assert_eq!(by_admin.status, MessageStatus::Recalled.as_i16());

    let page = store.page(&room, Page::Latest, 10).await.expect("page");
    let view: Vec<(i64, i16)> = page.iter().map(|m| (m.message_id, m.status)).collect();
    assert_eq!(
        view,
        vec![
            (a.message_id, MessageStatus::Recalled.as_i16()),
            (b.message_id, MessageStatus::Recalled.as_i16()),
            (c.message_id, MessageStatus::Normal.as_i16())
        ],
        "recalled messages stay in place as tombstones"
    );
    assert_eq!(
        store.get(&room, b.message_id).await.expect("get").expect("b").status,
        MessageStatus::Recalled.as_i16()
    );
    assert_contiguous(store, &room).await;
}

/// (e) rooms(): the sequence state of known rooms; unknown rooms are absent.
async fn rooms_report_their_sequence(store: &MessageStore, prefix: &str) {
    let (one, two, missing) =
        (format!("{prefix}-rooms-1"), format!("{prefix}-rooms-2"), format!("{prefix}-none"));
    let mut last_created = 0;
    for i in 0..3 {
        let mut m = text(&one, 5, &format!("{one}-{i}"), "x");
        m.created_at = 1_700_000_000_000 + i;
        last_created = m.created_at;
        store.append(m).await.expect("append");
    }
    let mut m = text(&two, 5, &format!("{two}-0"), "y");
    m.session_type = SessionType::Private.as_i16();
    store.append(m).await.expect("append");

    let mut rooms =
        store.rooms(vec![one.clone(), missing.clone(), two.clone()]).await.expect("rooms");
    rooms.sort_by(|a, b| a.room_id.cmp(&b.room_id));
    assert_eq!(rooms.len(), 2, "missing room absent: {rooms:?}");
    assert_eq!((rooms[0].room_id.as_str(), rooms[0].last_message_id), (one.as_str(), 3));
    assert_eq!(rooms[0].session_type, SessionType::Group.as_i16());
    assert_eq!(rooms[0].updated_at, last_created);
    assert_eq!((rooms[1].room_id.as_str(), rooms[1].last_message_id), (two.as_str(), 1));
    assert_eq!(rooms[1].session_type, SessionType::Private.as_i16());
    assert!(store.rooms(vec![missing]).await.expect("rooms").is_empty());
    assert!(store.rooms(Vec::new()).await.expect("rooms").is_empty());
}

/// (f) count_after counts what others sent above a position.
async fn count_after_excludes_the_reader(store: &MessageStore, prefix: &str) {
    let room = format!("{prefix}-count");
    for (i, sender) in [1, 2, 1, 2, 2].into_iter().enumerate() {
        store.append(text(&room, sender, &format!("{room}-{i}"), "c")).await.expect("append");
    }
    assert_eq!(store.count_after(&room, 0, 1).await.expect("count"), 3);
    assert_eq!(store.count_after(&room, 0, 2).await.expect("count"), 2);
    assert_eq!(store.count_after(&room, 3, 1).await.expect("count"), 2);
    assert_eq!(store.count_after(&room, 4, 2).await.expect("count"), 0);
    assert_eq!(store.count_after(&room, 0, 3).await.expect("count"), 5);
    assert_eq!(store.count_after(&room, 5, 3).await.expect("count"), 0);
    assert_eq!(store.count_after("no-such-room", 0, 3).await.expect("count"), 0);
}

/// (g) get() of a missing message is `None`; of a present one, the message as appended.
async fn get_missing_is_none(store: &MessageStore, prefix: &str) {
    let room = format!("{prefix}-get");
    let m = store.append(text(&room, 3, &format!("{room}-0"), "here")).await.expect("append");
    assert_eq!(store.get(&room, 1).await.expect("get"), Some(m));
    assert_eq!(store.get(&room, 2).await.expect("get"), None);
    assert_eq!(store.get(&room, 0).await.expect("get"), None);
    assert_eq!(store.get("no-such-room", 1).await.expect("get"), None);
}

/// (h) `append_then` runs its hook once the message is stored, before answering, and (SQL
/// stores, which commit concurrent appends together) in commit order: what a hook publishes
/// leaves each room in `message_id` order.
async fn on_commit_runs_in_commit_order(store: &MessageStore, prefix: &str) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, i64)>::new()));
    let rooms = [format!("{prefix}-order-a"), format!("{prefix}-order-b")];
    let mut tasks = JoinSet::new();
    for sender in 1..=40_i64 {
        let (store, seen, rooms) = (store.clone(), seen.clone(), rooms.clone());
        tasks.spawn(async move {
            for i in 0..5 {
                let room = &rooms[(sender as usize + i) % 2];
                let m = text(room, sender, &format!("{room}-{sender}-{i}"), "o");
                let hook_seen = seen.clone();
                let stored = store
                    .append_then(
                        m,
                        Box::new(move |s| {
                            hook_seen.lock().unwrap().push((s.room_id.clone(), s.message_id))
                        }),
                    )
                    .await
                    .expect("append");
                let recorded = seen.lock().unwrap().contains(&(room.clone(), stored.message_id));
                assert!(recorded, "the hook ran before the append answered");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("appender");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 200, "one hook per append");
    if store.backend_name() != "sql" {
        return;
    }
    for room in &rooms {
        let ids: Vec<i64> = seen.iter().filter(|(r, _)| r == room).map(|(_, id)| *id).collect();
        assert_eq!(ids, (1..=100).collect::<Vec<i64>>(), "room {room}: hooks in commit order");
    }
}

/// (i) A burst: 600 appends started together, 300 into one room and 2 into each of 150
/// others. The SQL stores commit what queued meanwhile in batches of their largest size (the
/// MySQL store 256), written as statements of 256, 128, 64 … rows: every room is still
/// numbered 1..=N and every answer names the row its message was stored under.
async fn a_burst_is_stored_whole(store: &MessageStore, prefix: &str) {
    let shared = format!("{prefix}-burst");
    let side = |i: i64| format!("{shared}-{}", i % 300 / 2);
    let mut tasks = JoinSet::new();
    for i in 0..600_i64 {
        let room = if i % 2 == 0 { shared.clone() } else { side(i) };
        let store = store.clone();
        tasks.spawn(async move {
            let m = text(&room, 1000 + i, &format!("{room}-b{i}"), "burst");
            store.append(m).await.expect("append")
        });
    }
    let mut answers = Vec::new();
    while let Some(r) = tasks.join_next().await {
        answers.push(r.expect("appender"));
    }
    let mut stored: HashMap<(String, i64), StoredMessage> = HashMap::new();
    let rooms: HashSet<String> = (0..600).filter(|i| i % 2 == 1).map(side).collect();
    assert_eq!(rooms.len(), 150);
    assert_eq!(assert_contiguous(store, &shared).await.len(), 300);
    for room in rooms.iter().chain([&shared]) {
        let all = assert_contiguous(store, room).await;
        if room != &shared {
            assert_eq!(all.len(), 2, "room {room}");
        }
        stored.extend(all.into_iter().map(|m| ((m.room_id.clone(), m.message_id), m)));
    }
    assert_eq!(stored.len(), 600);
    for answer in &answers {
        let row = &stored[&(answer.room_id.clone(), answer.message_id)];
        assert_eq!(row.id, answer.id, "answered id of {} #{}", answer.room_id, answer.message_id);
        assert_eq!(row.action_id, answer.action_id);
        assert_eq!(row.sender_id, answer.sender_id);
    }
}

/// Run every case against `store`, printing how long each took.
/// A person's messages, listed and then erased for good: every one becomes an empty
/// recalled tombstone in place, the others' messages and the numbering stay.
async fn erase_sender_leaves_tombstones_in_place(store: &MessageStore, prefix: &str) {
    let room = format!("{prefix}-erase");
    let other_room = format!("{prefix}-erase2");
    // A sender no other case uses.
    let leaver = 1_000_000 + (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as i64;
    let mut mine = Vec::new();
    for i in 0..5 {
        let r = if i % 2 == 0 { &room } else { &other_room };
        mine.push(
            store.append(text(r, leaver, &format!("{prefix}-e{i}"), "private")).await.unwrap(),
        );
        store.append(text(r, 2, &format!("{prefix}-o{i}"), "kept")).await.unwrap();
    }
    // Listed in pages, each once.
    let mut listed = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.sent_by(leaver, &after, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        listed.extend(page);
    }
    let mut listed_ids: Vec<String> = listed.iter().map(|m| m.id.clone()).collect();
    let mut mine_ids: Vec<String> = mine.iter().map(|m| m.id.clone()).collect();
    listed_ids.sort();
    mine_ids.sort();
    assert_eq!(listed_ids, mine_ids);

    assert_eq!(store.erase_sender(leaver).await.unwrap(), 5);
    for r in [&room, &other_room] {
        for m in assert_contiguous(store, r).await {
            if m.sender_id == leaver {
                assert_eq!(m.status, MessageStatus::Recalled.as_i16());
                assert_eq!(m.body, serde_json::json!({}));
            } else {
                assert_eq!(m.body, serde_json::json!({"text": "kept"}));
                assert_eq!(m.status, MessageStatus::Normal.as_i16());
            }
        }
    }
}

async fn run_contract(store: &MessageStore, label: &str) {
    let prefix = format!("{label}{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let started = Instant::now();
    macro_rules! case {
        ($name:ident) => {{
            let t = Instant::now();
            $name(store, &prefix).await;
            eprintln!(
                "  [{label}/{}] {} ok in {:?}",
                store.backend_name(),
                stringify!($name),
                t.elapsed()
            );
        }};
    }
    case!(concurrent_appends_are_contiguous);
    case!(concurrent_duplicates_store_once);
    case!(recall_leaves_a_tombstone);
    case!(rooms_report_their_sequence);
    case!(count_after_excludes_the_reader);
    case!(get_missing_is_none);
    case!(on_commit_runs_in_commit_order);
    case!(paging_visits_each_message_once);
    case!(a_burst_is_stored_whole);
    case!(erase_sender_leaves_tombstones_in_place);
    eprintln!("[{label}] message store contract passed in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    // `normal` keeps SQLite durable across process crashes (WAL) while skipping the fsync of
    // every commit, so filling 10 000 messages stays fast; the contract does not depend on it.
    let env = start(Profile::Embedded, |c| {
        c.database.sqlite_synchronous = jim::config::SqliteSynchronous::Normal
    })
    .await
    .expect("app");
    assert_eq!(env.app.state.messages.backend_name(), "sql");
    run_contract(&env.app.state.messages, "sqlite").await;
    env.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql() {
    let Some(env) = start(Profile::ScaleOut, |_| {}).await else { return };
    assert_eq!(env.app.state.messages.backend_name(), "sql");
    run_contract(&env.app.state.messages, "mysql").await;
    // MySQL 8 and servers in interleaved auto-increment mode read rooms and row ids back after
    // the writes (this MariaDB lets the run above skip both reads).
    let portable = MessageStore::Sql(SqlStore::portable(env.app.state.db.clone()));
    run_contract(&portable, "mysqlp").await;
    env.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb() {
    let Ok(url) = std::env::var("JIM_TEST_MONGODB_URL") else {
        eprintln!("SKIPPED MongoDB store contract: JIM_TEST_MONGODB_URL is not set");
        return;
    };
    let database = format!("jim_test_{}", uuid::Uuid::new_v4().simple());
    let store =
        jim::store::mongo::MongoStore::connect(&url, &database).await.expect("connect to MongoDB");
    let store = MessageStore::Mongo(store);
    assert_eq!(store.backend_name(), "mongodb");
    run_contract(&store, "mongo").await;
    // Connecting again to the same database finds the indexes in place.
    jim::store::mongo::MongoStore::connect(&url, &database).await.expect("reconnect");
    let client = ::mongodb::Client::with_uri_str(&url).await.expect("client");
    client.database(&database).drop().await.expect("drop the test database");
}

/// A wrong MongoDB URL fails the start clearly and within a bounded time (runs without a
/// MongoDB server: nothing listens on the port).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_unreachable_fails_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path(), None);
    config.messages.backend = jim::config::MessagesBackend::Mongodb;
    config.messages.url = format!("mongodb://127.0.0.1:{}/", free_port());
    let (log, _captured) = jim::logging::capture(slog::Level::Debug);
    let started = Instant::now();
    let error = match jim::Application::build(config, log).await {
        Ok(_) => panic!("started without a MongoDB server"),
        Err(e) => format!("{e:#}"),
    };
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(error.contains("MongoDB did not answer"), "{error}");

    let bad = jim::store::mongo::MongoStore::connect("http://127.0.0.1/", "jim").await;
    let error = format!("{:#}", bad.err().expect("a non-MongoDB URL is refused"));
    assert!(error.contains("not a valid MongoDB connection string"), "{error}");
}
