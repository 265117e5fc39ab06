//! `rtmp-edge sign`: prints the query string of a signed URL (see `auth::signed`), for
//! scripts that hand out publish or play links.
use crate::auth::{signed, Action};
use std::time::{SystemTime, UNIX_EPOCH};

/// The action a signed URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignAction {
    Publish,
    Play,
}

/// `rtmp-edge sign --secret S --action publish|play --app A --stream N --expires-in SECONDS`
#[derive(Debug, Clone, clap::Args)]
pub struct SignArgs {
    /// The secret (one of the app's `secrets`, or `--publish-secret` / `--play-secret`).
    #[arg(long, value_name = "SECRET")]
    pub secret: String,
    #[arg(long, value_name = "ACTION")]
    pub action: SignAction,
    #[arg(long, value_name = "APP")]
    pub app: String,
    /// The stream name, without a query string.
    #[arg(long, value_name = "NAME")]
    pub stream: String,
    /// How long the URL stays valid from now.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub expires_in: u64,
}

impl SignArgs {
    /// `expires=...&token=...` for a URL valid until now + `expires_in`.
    pub fn query(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let action = match self.action {
            SignAction::Publish => Action::Publish,
            SignAction::Play => Action::Play,
        };
        let expires = now.saturating_add(self.expires_in);
        signed::query(
            self.secret.as_bytes(),
            action,
            &self.app,
            &self.stream,
            expires,
        )
    }
}
