//! `aisec serve`: the web UI and REST API over the knowledge base and the run database.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. The default answers this host only; any other address makes
    /// every request from elsewhere need the access token. A request that names the server
    /// by anything but localhost, 127.x.y.z or [::1] needs it too, wherever it comes from (a
    /// page whose own name was rebound to 127.0.0.1; a reverse proxy on this host).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// Make a new access token (printed once), replacing the stored one.
    #[arg(long)]
    pub new_token: bool,
    /// A folder of assessment plans (`aisec threat-model PROFILE --plan DIR/NAME.yaml`) that
    /// the UI may start; nothing else can be started from a browser.
    #[arg(long, value_name = "DIR")]
    pub plans: Option<PathBuf>,
}

/// The token's hash lives beside the run database.
pub const TOKEN_FILE: &str = "web-token.sha256";

pub fn run(cli: &Cli, args: &ServeArgs) -> Result<Outcome> {
    let kb = crate::atlas_cmd::load_kb(cli)?;
    let store_path = match &cli.store_db {
        Some(p) => p.clone(),
        None => aisec_store::default_path()?,
    };
    let token_path = store_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| TOKEN_FILE.into(), |d| d.join(TOKEN_FILE));
    let token = aisec_web::load_or_create_token(&token_path, args.new_token)
        .with_context(|| format!("access token {}", token_path.display()))?;
    if let Some(dir) = &args.plans {
        anyhow::ensure!(dir.is_dir(), "--plans {}: not a folder", dir.display());
    }
    let exe =
        std::env::current_exe().context("cannot find the aisec executable to run assessments")?;
    aisec_web::serve(
        kb,
        aisec_web::ServeOptions {
            store_path,
            addr: SocketAddr::new(args.host, args.port),
            token,
            plans: args.plans.clone(),
            exe: Some(exe),
        },
    )?;
    Ok(Outcome::Ok)
}
