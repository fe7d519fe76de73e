//! `otaseal cert issue` and `otaseal cert show`: release-key certificates.

use super::args::{json_path, key_events, print_json, signing_public};
use super::trust_args::{CertTerms, cert_json, random_serial, read_cert};
use super::{CliResult, ExitCode};
use otaseal::keys::lifecycle::certify;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: CertCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CertCommand {
    /// The root (or an intermediate) certifies a release key.
    Issue(Box<IssueArgs>),
    /// Print a certificate.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// The issuer's secret key (the root, or an intermediate).
    /// A file, `env:NAME` or `-` (standard input); secret key text is never taken inline.
    #[arg(long, value_name = "FILE")]
    root_key: String,
    /// The key to certify: its public key file or `otaseal1:` text.
    #[arg(long, value_name = "KEY")]
    subject: String,
    #[command(flatten)]
    terms: CertTerms,
    /// Where to write the certificate.
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// Audit log (default: $OTASEAL_AUDIT_LOG).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// The certificate file.
    cert: PathBuf,
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> CliResult {
    match a.command {
        CertCommand::Issue(a) => issue(*a),
        CertCommand::Show(a) => show(a),
    }
}

fn issue(a: IssueArgs) -> CliResult {
    let issuer = super::args::signing_key(&a.root_key, a.audit_log.as_deref())?;
    let subject = signing_public(&a.subject)?;
    let terms = a.terms.resolve(None)?;
    let serial = a.terms.serial.unwrap_or_else(random_serial);
    let events = key_events(a.audit_log.as_deref());
    let cert = certify(&issuer, terms.fields(serial, &subject), events.as_deref())?;
    otaseal::files::write_atomic(&a.out, &cert.to_bytes(), 0o644)?;
    if a.json {
        let mut j = cert_json(&cert);
        j["out"] = json_path(&a.out);
        print_json(&j);
    } else {
        println!(
            "certificate {} for key {} written to {}",
            cert.serial,
            cert.subject_key_id(),
            a.out.display()
        );
        println!(
            "  channels {}, apps {}, usage {}, valid {}..{}",
            cert.channels, cert.apps, cert.usage, cert.not_before, cert.not_after
        );
    }
    Ok(ExitCode::Ok)
}

fn show(a: ShowArgs) -> CliResult {
    let (cert, _) = read_cert(&a.cert)?;
    if a.json {
        print_json(&cert_json(&cert));
    } else {
        println!("certificate {}", cert.serial);
        println!(
            "  subject  {} ({})",
            cert.subject_key_id(),
            cert.subject_alg
        );
        println!("  issuer   {}", cert.signer.key_id);
        println!(
            "  valid    {}..{} (Unix seconds)",
            cert.not_before, cert.not_after
        );
        println!("  channels {}", cert.channels);
        println!("  apps     {} (version {})", cert.apps, cert.version());
        println!("  usage    {}", cert.usage);
    }
    Ok(ExitCode::Ok)
}
