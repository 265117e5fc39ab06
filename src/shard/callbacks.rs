//! How access callbacks leave a shard and how their outcomes come back: the driver hands each
//! [`AuthCallback`] from `ShardCore::poll_callback` to a [`CallbackSink`] (the control side's
//! worker pool) with a [`CallbackReply`], which sends the outcome to the shard's mailbox and
//! wakes its event loop, like a batch from another shard.
use super::core::{AuthCallback, ConnId, MailBatch, ShardCore};
use super::driver::Mailbox;
use super::mailbox::ShardMsg;
use crate::auth::callback::CallbackOutcome;
use std::sync::Arc;
use std::time::Instant;

/// Where callbacks go (the worker pool). Must not block.
pub type CallbackSink = Arc<dyn Fn(AuthCallback, CallbackReply) + Send + Sync>;

/// Sends one callback's outcome back to its shard.
pub struct CallbackReply {
    mailbox: Mailbox,
    conn: ConnId,
    /// None for on_done: nobody waits.
    ticket: Option<u64>,
}

impl CallbackReply {
    pub fn send(self, outcome: CallbackOutcome) {
        let Some(ticket) = self.ticket else {
            return;
        };
        let msg = ShardMsg::Callback {
            conn: self.conn,
            ticket,
            outcome,
        };
        // A shard that has stopped dropped its receiver; nothing to do then.
        if self.mailbox.sender.send(MailBatch(vec![msg])).is_ok() {
            self.mailbox.waker.wake();
        }
    }
}

/// Hands every callback of `core` (shard `index`) to `sink`. Without a sink, authorizations
/// fail at once (decided as the app says for failures) and on_done callbacks are dropped.
pub(crate) fn forward_callbacks(
    core: &mut ShardCore,
    mailboxes: &[Mailbox],
    sink: Option<&CallbackSink>,
    now: Instant,
) {
    let index = core.index();
    while let Some(callback) = core.poll_callback() {
        match (sink, mailboxes.get(index)) {
            (Some(sink), Some(mailbox)) => {
                let reply = CallbackReply {
                    mailbox: mailbox.clone(),
                    conn: callback.conn,
                    ticket: callback.ticket,
                };
                sink(callback, reply);
            }
            _ => {
                if let Some(ticket) = callback.ticket {
                    core.handle_callback(callback.conn, ticket, CallbackOutcome::Failed, now);
                }
            }
        }
    }
}
