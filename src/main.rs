//! The `rtmp-edge` binary: parse the command line and configuration, start the shards and
//! (when configured) the HTTP control listener, stop cleanly on SIGINT/SIGTERM.
use clap::Parser;
use rtmp_edge::control::http::{ControlState, HttpServer};
use rtmp_edge::control::{init_logging, Cli};
use rtmp_edge::shard::Server;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::process::ExitCode;
use std::sync::Arc;
use tracing::{error, info};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(code) = cli.run_one_shot() {
        return code;
    }
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("rtmp-edge: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log);
    let settings = config.shard_settings();
    let shards = settings.shards;
    let server = match Server::start(settings) {
        Ok(server) => server,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    info!(listen = ?server.local_addrs(), shards, "rtmp-edge serving");
    if let Some(addr) = config.http.listen_addr() {
        let state = ControlState::new(Box::new(server.control()), &config.http);
        if let Err(e) = HttpServer::start(addr, Arc::new(state)) {
            error!(%addr, "cannot start the HTTP listener: {e}");
            server.stop();
            server.join();
            return ExitCode::FAILURE;
        }
    }
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            server.stop();
            server.join();
            return ExitCode::FAILURE;
        }
    };
    let stopper = server.stopper();
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            info!(signal, "stopping");
            stopper.stop();
        }
    });
    let stats = server.join();
    let accepted: u64 = stats.iter().map(|s| s.accepted).sum();
    info!(accepted, "rtmp-edge stopped");
    ExitCode::SUCCESS
}
