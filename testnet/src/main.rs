//! `certnet-testnet`: a local federation of real `certnet` processes. Not built yet (its issue
//! depends on federation networking); it says so rather than pretending.

fn main() -> std::process::ExitCode {
    eprintln!("certnet-testnet: not implemented yet; it arrives with the testnet issue");
    std::process::ExitCode::from(2)
}
