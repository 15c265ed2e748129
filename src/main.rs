fn main() -> std::process::ExitCode {
    git_maestro::cli::main()
}
