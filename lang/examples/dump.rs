fn main() {
    let path = std::env::args().nth(1).expect("path");
    let source = std::fs::read_to_string(&path).expect("read");
    let parsed = rlx_lang::parse(&source);
    if std::env::args().nth(2).is_some() {
        println!("{:#?}", parsed.module);
    }
    for d in &parsed.diagnostics {
        println!("{} {:?} {}", d.code, d.span(), d.message);
    }
    println!("{} items", parsed.module.items.len());
}
