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

/// A statement whose SQL is written out (`?` marks each bind), for a batch's shape or for
/// what diesel would not keep prepared (every `UPDATE`, `sql_query` and `sql()` literal: on
/// MySQL a prepare, an execute and a close each time). It stays prepared when its shape is
/// small (at most [`SHAPES_KEPT`] shapes per statement and connection, well under MySQL's
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
        Shaped { sql: sql.into(), binds, keep: shape <= SHAPES_KEPT, row: std::marker::PhantomData }
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
