//! `certnet status`: ask the running node who it is and how long it has run.

use std::time::Duration;

use super::out::print_text;
use anyhow::Context as _;
use certnet_node::api::client::Client;
use certnet_node::api::wire::StatusResponse;
use certnet_node::datadir::DataDir;
use certnet_node::datadir::roster_file::RosterFile as _;
use certnet_node::membership::Roster;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print the API's JSON answer.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(dir: &DataDir, args: &StatusArgs) -> anyhow::Result<()> {
    let client = Client::from_data_dir(dir)?;
    let status = client.status()?;
    if args.json {
        let text = serde_json::to_string_pretty(&status).context("cannot encode JSON")?;
        print_text(&text);
    } else {
        let mut text = render(&status, &client);
        if let Some(line) = members_line(dir, &status.name, &client) {
            text.push('\n');
            text.push_str(&line);
        }
        print_text(&text);
    }
    Ok(())
}

/// Who of the roster is connected, and who is missing (`None` when the roster or the peer list
/// cannot be read: the rest of the status still prints).
fn members_line(dir: &DataDir, own: &str, client: &Client) -> Option<String> {
    let roster = Roster::load(&dir.roster()).ok()?;
    let peers = client.peers().ok()?;
    let connected: std::collections::BTreeSet<&str> = peers
        .peers
        .iter()
        .filter_map(|p| p.member.as_deref())
        .collect();
    let others: Vec<&str> = roster
        .members()
        .iter()
        .map(|m| m.name().as_str())
        .filter(|name| *name != own)
        .collect();
    let missing: Vec<&str> = others
        .iter()
        .copied()
        .filter(|name| !connected.contains(name))
        .collect();
    let mut line = format!(
        "members     {} of {} others connected",
        others.len() - missing.len(),
        others.len()
    );
    if !missing.is_empty() {
        line.push_str(&format!(" (not connected: {})", missing.join(", ")));
    }
    Some(line)
}

fn render(status: &StatusResponse, client: &Client) -> String {
    let mut text = format!(
        "name        {}\nnetwork     {}\nauthor_key  {}\npeer_id     {}\nversion     {}\nuptime      {}\napi         http://{}\nlog         {} entries, root {}\ncheckpoint  {}\nauthors     {}\norphans     {}\nstore       {} bytes on disk\nforks       {}",
        status.name,
        status.network,
        status.author_key,
        status.peer_id,
        status.version,
        human_duration(Duration::from_secs(status.uptime_secs)),
        client.addr(),
        status.log_size,
        status.root,
        status
            .checkpoint_size
            .map_or("none yet".to_owned(), |size| format!("{size} entries")),
        status.heads,
        status.orphans,
        status.store_bytes,
        status.forks.len(),
    );
    let mib = |b: u64| b / (1024 * 1024);
    text.push_str(&format!(
        "\ndisk        {}, {} MiB free",
        status.disk.state,
        mib(status.disk.free_bytes)
    ));
    if let (Some(watermark), Some(floor)) = (status.disk.watermark_bytes, status.disk.floor_bytes) {
        text.push_str(&format!(
            " (records from peers stop below {} MiB, publishes below {} MiB)",
            mib(watermark),
            mib(floor)
        ));
    }
    for fork in &status.forks {
        text.push_str(&format!(
            "\n  FROZEN {} ({}) signed two records at seq {}",
            fork.author_name.as_deref().unwrap_or("not in roster"),
            fork.author,
            fork.seq
        ));
    }
    text
}

/// `3d 4h 5m 6s`, leaving out leading zero units.
fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, mins, secs) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if days > 0 || hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if days > 0 || hours > 0 || mins > 0 {
        parts.push(format!("{mins}m"));
    }
    parts.push(format!("{secs}s"));
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(Duration::from_secs(5)), "5s");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1h 0m 0s");
        assert_eq!(human_duration(Duration::from_secs(90_061)), "1d 1h 1m 1s");
    }
}
