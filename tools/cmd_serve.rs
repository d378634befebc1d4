//! `clap-tools serve`: the search page of an index.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap_tools::index::Index;
use clap_tools::serve::{serve, ServeOptions};
use tracing::{info, warn};

/// Serve a search page for an index: type a caption or drop an audio file, see and play the best
/// clips with their scores, captions and dataset columns.
///
/// JSON endpoints: GET /api/search?q=TEXT&k=10, POST /api/search/audio?k=10&name=FILE (the body is
/// the audio file), GET /audio/ROW (a clip as WAV), GET /api/info. Only clips the index names are
/// served (requests carry row numbers, never paths). Stop with Ctrl-C.
#[derive(clap::Args)]
pub struct Args {
    /// The index folder (`index build`).
    index: PathBuf,
    /// Address to listen on. The default is reachable from this machine only; 0.0.0.0:PORT opens
    /// the page (and the index's audio) to the network. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    model: crate::model_args::IndexModel,
    /// The largest audio upload taken, in MB (larger ones are refused with a message).
    #[arg(long, default_value_t = 20.0, value_name = "MB")]
    max_upload_mb: f64,
    /// The longest audio upload taken, in seconds once decoded (a small compressed file can decode
    /// into hours): decoding stops there and the upload is refused (413) with a message.
    #[arg(long, default_value_t = 600.0, value_name = "SECONDS")]
    max_upload_seconds: f64,
}

pub fn run(a: Args) -> Result<()> {
    if !(a.max_upload_mb > 0.0 && a.max_upload_mb <= 4096.0) {
        anyhow::bail!("--max-upload-mb must be above 0 and at most 4096");
    }
    if !(a.max_upload_seconds > 0.0 && a.max_upload_seconds <= 86400.0) {
        anyhow::bail!("--max-upload-seconds must be above 0 and at most 86400");
    }
    let ix = Index::open(&a.index)?;
    let source = a.model.for_index(&ix)?;
    let (model, tokenizer) = crate::model_args::load_with_tokenizer(&source)?;
    if !a.addr.ip().is_loopback() {
        warn!("listening on {}: the page and every clip of the index are open to the network", a.addr);
    }
    let clips = ix.len();
    let opts = ServeOptions {
        addr: a.addr,
        max_upload: (a.max_upload_mb * 1e6) as usize,
        max_upload_seconds: a.max_upload_seconds,
        max_k: 1000,
    };
    serve(ix, model, tokenizer, opts, |bound| {
        info!("{clips} clips; search page at http://{bound}/ (Ctrl-C stops)");
    })?;
    Ok(())
}
