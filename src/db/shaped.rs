//! Statements written out as SQL text with typed binds, which diesel keeps prepared (see
//! [`Shaped`]).

use std::borrow::Cow;

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, SmallInt, Text};

/// A bound value of a [`Shaped`] statement.
pub enum Bound<'a> {
    Text(&'a str),
    Small(i16),
    Big(i64),
}

/// Batches of at most this many messages (and rooms) keep their statements prepared.
const SHAPES_KEPT: usize = 16;

/// Larger shapes also kept prepared, that [`kept_chunks`] cuts longer batches into. Few, so
/// that what the database holds per connection stays small (every shape up to 256 cost
/// MariaDB ~200 MB; these, for the message writer, ~5 MB). Up to the longest batch a writer
/// commits (MySQL's 256), so that a batch of a saturated writer is one statement.
const LARGE_SHAPES_KEPT: [usize; 4] = [256, 128, 64, 32];

/// Whether a statement written for `shape` rows stays prepared.
fn kept(shape: usize) -> bool {
    shape <= SHAPES_KEPT || LARGE_SHAPES_KEPT.contains(&shape)
}

/// `items` in consecutive chunks whose statements stay prepared: the largest kept shape
/// while more than [`SHAPES_KEPT`] remain, then the rest. A statement of an odd shape
/// costs MySQL a parse and a prepare, and diesel a close, every time.
pub fn kept_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let take = if rest.len() <= SHAPES_KEPT {
            rest.len()
        } else {
            LARGE_SHAPES_KEPT.into_iter().find(|&s| s <= rest.len()).unwrap_or(SHAPES_KEPT)
        };
        let (chunk, after) = rest.split_at(take);
        rest = after;
        Some(chunk)
    })
}

/// A statement whose SQL is written out (`?` marks each bind), for a batch's shape or for
/// what diesel would not keep prepared (every `UPDATE`, `sql_query` and `sql()` literal: on
/// MySQL a prepare, an execute and a close each time). It stays prepared when its shape is
/// [`kept`] (a few dozen shapes per statement and connection, well under MySQL's
/// `max_prepared_stmt_count`).
pub struct Shaped<'a, ST> {
    sql: Cow<'static, str>,
    binds: Vec<Bound<'a>>,
    keep: bool,
    row: std::marker::PhantomData<ST>,
}

impl<'a, ST> Shaped<'a, ST> {
    /// `shape`: how many rows (or rooms) the SQL was written for.
    pub fn new(sql: impl Into<Cow<'static, str>>, binds: Vec<Bound<'a>>, shape: usize) -> Self {
        Shaped { sql: sql.into(), binds, keep: kept(shape), row: std::marker::PhantomData }
    }
}

impl<ST: 'static> QueryId for Shaped<'_, ST> {
    type QueryId = ();
    // Not static: the cache key is the SQL, one per shape.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> diesel::query_builder::Query for Shaped<'_, ST> {
    type SqlType = ST;
}

impl<DB, ST> QueryFragment<DB> for Shaped<'_, ST>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<SmallInt> + HasSqlType<BigInt>,
    str: ToSql<Text, DB>,
    i16: ToSql<SmallInt, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !self.keep {
            out.unsafe_to_cache_prepared();
        }
        let mut binds = self.binds.iter();
        for (i, piece) in self.sql.split('?').enumerate() {
            if i > 0 {
                match binds.next() {
                    Some(Bound::Text(v)) => out.push_bind_param::<Text, _>(*v)?,
                    Some(Bound::Small(v)) => out.push_bind_param::<SmallInt, _>(v)?,
                    Some(Bound::Big(v)) => out.push_bind_param::<BigInt, _>(v)?,
                    None => {
                        return Err(diesel::result::Error::QueryBuilderError(
                            "a ? without a bind".into(),
                        ));
                    }
                }
            }
            out.push_sql(piece);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{kept, kept_chunks};

    #[test]
    fn long_batches_are_cut_into_kept_shapes() {
        for n in 0..300 {
            let items: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = kept_chunks(&items).collect();
            assert_eq!(chunks.concat(), items, "every item once, in order ({n})");
            assert!(
                chunks.iter().all(|c| kept(c.len())),
                "{n}: {:?}",
                chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
            );
        }
        let sizes = |n: usize| kept_chunks(&vec![0; n]).map(<[i32]>::len).collect::<Vec<_>>();
        assert_eq!(sizes(16), [16]);
        assert_eq!(sizes(40), [32, 8]);
        assert_eq!(sizes(100), [64, 32, 4]);
        assert_eq!(sizes(200), [128, 64, 8]);
        assert_eq!(sizes(256), [256]);
        assert_eq!(sizes(300), [256, 32, 12]);
    }
}
