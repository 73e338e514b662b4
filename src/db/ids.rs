//! How the domain ids ([`UserId`], [`GroupId`]) are columns: each is the `BIGINT` it wraps, so
//! rows, binds and filters take the typed id and no query converts by hand.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::BigInt;

use crate::domain::{GroupId, UserId};

/// Implements `ToSql`/`FromSql` over `BIGINT` for an id newtype by way of its `i64`; the
/// `AsExpression` and `Queryable` impls come from diesel's derives on a stand-in struct
/// (`foreign_derive`: the impls are for the wrapped type, the stand-in is never built).
macro_rules! bigint_id {
    ($id:ident, $standin:ident) => {
        impl<DB: Backend> ToSql<BigInt, DB> for $id
        where
            i64: ToSql<BigInt, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <i64 as ToSql<BigInt, DB>>::to_sql(&self.0, out)
            }
        }

        impl<DB: Backend> FromSql<BigInt, DB> for $id
        where
            i64: FromSql<BigInt, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                <i64 as FromSql<BigInt, DB>>::from_sql(bytes).map($id)
            }
        }

        #[derive(AsExpression, FromSqlRow)]
        #[diesel(foreign_derive, sql_type = BigInt)]
        #[allow(dead_code)]
        struct $standin($id);
    };
}

bigint_id!(UserId, UserIdColumn);
bigint_id!(GroupId, GroupIdColumn);
