//! The command-line conventions both binaries share, as cargo has them:
//! `-h` and `--help` print the same full help, and `--version` names the
//! binary (`particles 0.1.0`), not the package that holds it.

use clap::{Arg, ArgAction, CommandFactory, Parser};

/// Parses this process's arguments into `P` for the binary `name`, exiting
/// with clap's usage error (status 2), help or version as clap does.
pub fn parse<P: Parser>(name: &'static str) -> P {
    parse_from(name, std::env::args_os())
}

/// [`parse`] for given arguments, the first being the program's name.
pub fn parse_from<P: Parser>(
    name: &'static str,
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> P {
    let mut command = command::<P>(name);
    let matches = command.clone().get_matches_from(args);
    P::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit())
}

/// `P`'s command with the shared conventions.
pub fn command<P: CommandFactory>(name: &'static str) -> clap::Command {
    P::command()
        .name(name)
        .bin_name(name)
        .disable_help_flag(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .help("Print help")
                .action(ArgAction::HelpLong),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Parser)]
    #[command(version, about, long_about)]
    /// Short.
    ///
    /// Long description.
    struct Opts {
        /// An option.
        ///
        /// More about it.
        #[arg(long)]
        value: Option<u32>,
    }

    fn render(flag: &str) -> String {
        command::<Opts>("demo")
            .try_get_matches_from(["demo", flag])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn short_and_long_help_agree_and_version_names_the_binary() {
        assert_eq!(render("-h"), render("--help"));
        assert!(render("-h").contains("More about it."), "{}", render("-h"));
        assert_eq!(render("--version"), "demo 0.1.0\n");
        assert_eq!(render("-V"), render("--version"));
    }
}
