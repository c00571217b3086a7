fn main() {
    let path = std::env::args().nth(1).expect("path");
    let source = std::fs::read_to_string(&path).expect("read");
    print!("{}", rlx_lang::format::format(&source).expect("parses"));
}
