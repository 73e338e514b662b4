//! Repository for email: the one-time codes (`email_codes`) and the outbox (`mail_outbox`)
//! the background sender claims mail from.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::{email_codes, mail_outbox};
use super::{Db, DbResult, last_insert_id};
use crate::domain::UserId;

/// A row of `email_codes`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_codes)]
pub struct EmailCodeRow {
    pub id: i64,
    pub user_id: UserId,
    pub purpose: i16,
    pub email: String,
    pub code_hash: String,
    pub tries: i32,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub created_at: i64,
}

/// A code to store.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = email_codes)]
pub struct NewEmailCode {
    pub user_id: UserId,
    pub purpose: i16,
    pub email: String,
    pub code_hash: String,
    pub tries: i32,
    pub expires_at: i64,
    pub created_at: i64,
}

/// A row of `mail_outbox`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
pub struct MailRow {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub state: i16,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub claimed_by: Option<String>,
    pub claim_until: Option<i64>,
    pub last_error: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// A mail to queue.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct NewMail {
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub state: i16,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: String,
    pub created_at: i64,
}

/// Outbox states.
pub const MAIL_PENDING: i16 = 0;
pub const MAIL_SENT: i16 = 1;
pub const MAIL_GIVEN_UP: i16 = 2;

/// How many outbox rows are in each state (`jim mail status`, tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxTally {
    pub pending: i64,
    pub sent: i64,
    pub given_up: i64,
}

impl Db {
    /// Store a new code for `(user, purpose)`, ending the previous live one in the same
    /// transaction (only the newest code mailed works). Returns its id.
    pub async fn email_code_replace(&self, code: NewEmailCode, now: i64) -> DbResult<i64> {
        transaction!(self, |c| {
            diesel::update(
                email_codes::table
                    .filter(email_codes::user_id.eq(code.user_id))
                    .filter(email_codes::purpose.eq(code.purpose))
                    .filter(email_codes::used_at.is_null()),
            )
            .set(email_codes::used_at.eq(now))
            .execute(c)
            .await?;
            diesel::insert_into(email_codes::table).values(&code).execute(c).await?;
            last_insert_id(c).await
        })
    }

    /// The newest unused code of `(user, purpose)`, expired or not.
    pub async fn email_code_live(
        &self,
        user_id: UserId,
        purpose: i16,
    ) -> DbResult<Option<EmailCodeRow>> {
        query!(self, optional EmailCodeRow, email_codes::table
            .filter(email_codes::user_id.eq(user_id))
            .filter(email_codes::purpose.eq(purpose))
            .filter(email_codes::used_at.is_null())
            .order(email_codes::id.desc()))
    }

    /// Count one try of code `id` before its answer is compared, unless it has had
    /// `max_tries` already or was used: one conditional update, so a burst of parallel
    /// guesses gets no more comparisons than the same guesses one at a time. Returns whether
    /// the try was counted (may go on).
    pub async fn email_code_count_try(&self, id: i64, max_tries: i32) -> DbResult<bool> {
        let _turn = self.sqlite_write_turn().await;
        query!(self, |c| diesel::update(
            email_codes::table
                .find(id)
                .filter(email_codes::used_at.is_null())
                .filter(email_codes::tries.lt(max_tries)),
        )
        .set(email_codes::tries.eq(email_codes::tries + 1))
        .execute(c)
        .await)
        .map(|n| n > 0)
    }

    /// Use code `id` up; `false` when it was already used (it works once).
    pub async fn email_code_use(&self, id: i64, now: i64) -> DbResult<bool> {
        let _turn = self.sqlite_write_turn().await;
        query!(self, |c| diesel::update(
            email_codes::table.find(id).filter(email_codes::used_at.is_null()),
        )
        .set(email_codes::used_at.eq(now))
        .execute(c)
        .await)
        .map(|n| n > 0)
    }

    /// Queue a mail; returns its id.
    pub async fn mail_enqueue(&self, mail: NewMail) -> DbResult<i64> {
        transaction!(self, |c| {
            diesel::insert_into(mail_outbox::table).values(&mail).execute(c).await?;
            last_insert_id(c).await
        })
    }

    /// Claim up to `limit` mails that are due and not held by a live lease, for
    /// `instance` until `lease_until`. Each row is taken by one conditional update, so of
    /// several instances claiming at once exactly one gets each row.
    pub async fn mail_claim_due(
        &self,
        instance: String,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> DbResult<Vec<MailRow>> {
        let due: Vec<i64> = query!(self, |c| mail_outbox::table
            .filter(mail_outbox::state.eq(MAIL_PENDING))
            .filter(mail_outbox::next_attempt_at.le(now))
            .filter(mail_outbox::claim_until.is_null().or(mail_outbox::claim_until.lt(now)))
            .order(mail_outbox::id.asc())
            .limit(limit)
            .select(mail_outbox::id)
            .load(c)
            .await)?;
        let mut claimed = Vec::new();
        for id in due {
            let _turn = self.sqlite_write_turn().await;
            let instance = instance.clone();
            let taken = query!(self, |c| diesel::update(
                mail_outbox::table.find(id).filter(mail_outbox::state.eq(MAIL_PENDING)).filter(
                    mail_outbox::claim_until.is_null().or(mail_outbox::claim_until.lt(now))
                ),
            )
            .set((
                mail_outbox::claimed_by.eq(Some(instance)),
                mail_outbox::claim_until.eq(Some(lease_until)),
            ))
            .execute(c)
            .await)?;
            if taken > 0 {
                claimed.push(id);
            }
        }
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        query!(self, all MailRow, mail_outbox::table
            .filter(mail_outbox::id.eq_any(&claimed))
            .filter(mail_outbox::claimed_by.eq(&instance))
            .order(mail_outbox::id.asc()))
    }

    /// Record that mail `id`, claimed by `instance`, was taken by the SMTP server: its
    /// bodies (which may hold a code) are cleared and the lease released.
    pub async fn mail_mark_sent(&self, id: i64, instance: String, now: i64) -> DbResult<bool> {
        let _turn = self.sqlite_write_turn().await;
        query!(self, |c| diesel::update(
            mail_outbox::table.find(id).filter(mail_outbox::claimed_by.eq(&instance)),
        )
        .set((
            mail_outbox::state.eq(MAIL_SENT),
            mail_outbox::sent_at.eq(Some(now)),
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
            mail_outbox::body_text.eq(""),
            mail_outbox::body_html.eq(""),
            mail_outbox::last_error.eq(""),
            mail_outbox::claimed_by.eq(None::<String>),
            mail_outbox::claim_until.eq(None::<i64>),
        ))
        .execute(c)
        .await)
        .map(|n| n > 0)
    }

    /// Record a failed attempt of mail `id`: retried at `next_attempt_at`, or given up (its
    /// bodies cleared). The lease is released either way.
    pub async fn mail_mark_failed(
        &self,
        id: i64,
        instance: String,
        next_attempt_at: i64,
        give_up: bool,
        error: String,
    ) -> DbResult<bool> {
        let error: String = error.chars().take(900).collect();
        let _turn = self.sqlite_write_turn().await;
        query!(self, |c| {
            let row = mail_outbox::table.find(id).filter(mail_outbox::claimed_by.eq(&instance));
            let released = (
                mail_outbox::attempts.eq(mail_outbox::attempts + 1),
                mail_outbox::next_attempt_at.eq(next_attempt_at),
                mail_outbox::last_error.eq(&error),
                mail_outbox::claimed_by.eq(None::<String>),
                mail_outbox::claim_until.eq(None::<i64>),
            );
            if give_up {
                diesel::update(row)
                    .set((
                        released,
                        mail_outbox::state.eq(MAIL_GIVEN_UP),
                        mail_outbox::body_text.eq(""),
                        mail_outbox::body_html.eq(""),
                    ))
                    .execute(c)
                    .await
            } else {
                diesel::update(row).set(released).execute(c).await
            }
        })
        .map(|n| n > 0)
    }

    /// Rows of the outbox by state.
    pub async fn mail_tally(&self) -> DbResult<OutboxTally> {
        let rows: Vec<(i16, i64)> = query!(self, |c| mail_outbox::table
            .group_by(mail_outbox::state)
            .select((mail_outbox::state, diesel::dsl::count_star()))
            .load(c)
            .await)?;
        let mut tally = OutboxTally::default();
        for (state, count) in rows {
            match state {
                MAIL_PENDING => tally.pending = count,
                MAIL_SENT => tally.sent = count,
                _ => tally.given_up += count,
            }
        }
        Ok(tally)
    }
}
