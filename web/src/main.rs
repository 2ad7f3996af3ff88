//! `shuangyong`: the whole system in one binary. See `web::cli` for the commands.

fn main() -> std::process::ExitCode {
    web::cli::main()
}
