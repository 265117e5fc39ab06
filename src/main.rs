//! The `rtmp-edge` binary: parse the command line and configuration, start the shards and
//! (when configured) the HTTP control listener and the HAProxy agent, then leave the signals
//! to `control::lifecycle`: SIGTERM drains, SIGHUP reloads, SIGINT (or a second SIGTERM)
//! stops at once.
use clap::Parser;
use rtmp_edge::control::agent::{Agent, Capacity};
use rtmp_edge::control::http::{ControlState, HttpServer};
use rtmp_edge::control::lifecycle::Lifecycle;
use rtmp_edge::control::{init_logging, Cli};
use rtmp_edge::shard::Server;
use std::process::ExitCode;
use std::sync::Arc;
use tracing::{error, info, warn};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(code) = cli.run_one_shot() {
        return code;
    }
    let config = match cli.load_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("rtmp-edge: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log);
    let settings = match config.shard_settings_with_tls() {
        Ok(settings) => settings,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    let shards = settings.shards;
    if config.server.proxy_protocol && config.server.trusted_proxies.is_empty() {
        warn!(
            "server.proxy_protocol is on and server.trusted_proxies is empty: any source may \
             send a PROXY header; set --trusted-proxy to the proxies' addresses"
        );
    }
    // Always there, so a reload may add callbacks; idle workers only wait on their queue.
    // What https:// callbacks are verified against: read once; none leaves https:// failing.
    let ca = (!config.tls.ca_file.is_empty()).then(|| std::path::Path::new(&config.tls.ca_file));
    let roots = rtmp_edge::control::tls::root_certificates(ca).unwrap_or_else(|e| {
        if config.has_https_callback() {
            warn!("https:// access callbacks will fail: {e}");
        }
        Vec::new()
    });
    let callbacks = match rtmp_edge::control::callbacks::start(&roots) {
        Ok(sink) => Some(sink),
        Err(e) => {
            error!("cannot start the access callback workers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match Server::start_with_callbacks(settings, callbacks) {
        Ok(server) => server,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    info!(listen = ?server.local_addrs(), shards, "rtmp-edge serving");
    let fail = |server: Server| {
        server.stop();
        server.join();
        ExitCode::FAILURE
    };
    let state = Arc::new(ControlState::new(Box::new(server.control()), &config.http));
    if let Some(addr) = config.http.listen_addr() {
        if let Err(e) = HttpServer::start(addr, state.clone()) {
            error!(%addr, "cannot start the HTTP listener: {e}");
            return fail(server);
        }
    }
    let agent = match config.agent.listen_addr() {
        Some(addr) => match Agent::start(addr, state.clone(), Capacity::from(&config.agent)) {
            Ok(agent) => Some(agent),
            Err(e) => {
                error!(%addr, "cannot start the agent listener: {e}");
                return fail(server);
            }
        },
        None => None,
    };
    let lifecycle = Lifecycle {
        cli,
        started: config,
        shards: server.control(),
        stopper: server.stopper(),
        state,
        agent,
    };
    if let Err(e) = lifecycle.spawn() {
        error!("cannot install signal handlers: {e}");
        return fail(server);
    }
    let stats = server.join();
    let accepted: u64 = stats.iter().map(|s| s.accepted).sum();
    info!(accepted, "rtmp-edge stopped");
    ExitCode::SUCCESS
}
