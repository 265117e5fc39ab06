//! The access callback worker pool: a few threads that POST the shard cores' callback
//! requests ([`crate::auth::callback`]) with a blocking HTTP client (`ureq`), off the shard
//! threads, so a slow callback never blocks an event loop. Each outcome goes back to the
//! shard through its mailbox, which wakes the shard's event loop. `https://` callbacks are
//! verified against the roots given at start (`tls.ca_file`, else the system's roots) with
//! rustls on ring; no connection is kept alive between callbacks (a POST on a connection the
//! server closed meanwhile would fail the authorization).
//!
//! The queue is bounded: when it is full, an authorization fails at once (fail closed
//! unless the app says otherwise) and an on_done is dropped with a warning.
use crate::auth::callback::{CallbackOutcome, CallbackRequest};
use crate::shard::{AuthCallback, CallbackReply, CallbackSink};
use rustls::pki_types::CertificateDer;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use tracing::{debug, warn};

/// Worker threads.
pub const WORKERS: usize = 4;
/// Callbacks queued beyond those being made.
pub const QUEUE: usize = 1024;

type Job = (AuthCallback, CallbackReply);

/// Starts the pool; `roots` are the CA certificates `https://` callbacks must chain to (none:
/// every `https://` callback fails). The returned sink is what the shards hand their
/// callbacks to. The workers stop once every clone of the sink is gone.
pub fn start(roots: &[CertificateDer<'static>]) -> std::io::Result<CallbackSink> {
    let (sender, receiver) = mpsc::sync_channel::<Job>(QUEUE);
    let receiver = Arc::new(Mutex::new(receiver));
    let agent = agent(roots);
    for i in 0..WORKERS {
        let (receiver, agent) = (receiver.clone(), agent.clone());
        std::thread::Builder::new()
            .name(format!("auth-callback-{i}"))
            .spawn(move || work(&receiver, &agent))?;
    }
    let sender: Mutex<SyncSender<Job>> = Mutex::new(sender);
    Ok(Arc::new(
        move |callback: AuthCallback, reply: CallbackReply| {
            let sent = match sender.lock() {
                Ok(s) => s.try_send((callback, reply)),
                Err(_) => return,
            };
            if let Err(
                TrySendError::Full((callback, reply))
                | TrySendError::Disconnected((callback, reply)),
            ) = sent
            {
                warn!(url = %callback.request.url, "callback queue full: not called");
                reply.send(CallbackOutcome::Failed);
            }
        },
    ))
}

/// The HTTP client every worker shares (an `Agent` is a handle: clones share its TLS setup).
pub fn agent(roots: &[CertificateDer<'static>]) -> ureq::Agent {
    let roots: Vec<ureq::tls::Certificate<'static>> = roots
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(0)
        .tls_config(tls)
        .build()
        .into()
}

fn work(receiver: &Mutex<Receiver<Job>>, agent: &ureq::Agent) {
    loop {
        let job = match receiver.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok((callback, reply)) = job else {
            return;
        };
        let outcome = call(agent, &callback.request);
        debug!(url = %callback.request.url, ?outcome, "callback answered");
        reply.send(outcome);
    }
}

/// POSTs the request's JSON body with `agent`, within the request's timeout; 2xx allows.
pub fn call(agent: &ureq::Agent, request: &CallbackRequest) -> CallbackOutcome {
    let result = agent
        .post(&request.url)
        .config()
        .timeout_global(Some(request.timeout))
        .build()
        .header("content-type", "application/json")
        .send(request.body());
    match result {
        Ok(response) if response.status().is_success() => CallbackOutcome::Allowed,
        Ok(_) => CallbackOutcome::Denied,
        Err(ureq::Error::Timeout(_)) => CallbackOutcome::TimedOut,
        Err(e) => {
            debug!(url = %request.url, error = %e, "callback failed");
            CallbackOutcome::Failed
        }
    }
}
