//! The README's example is `examples/record_my_program.rs`, word for word,
//! so the code a reader copies is the code `cargo test` compiles and runs.

const README: &str = include_str!("../README.md");
const EXAMPLE: &str = include_str!("../examples/record_my_program.rs");

/// The text between `<!-- NAME:start -->` and `<!-- NAME:end -->`.
fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let start = format!("<!-- {name}:start -->\n");
    let end = format!("<!-- {name}:end -->");
    let from = text.find(&start).expect("start marker") + start.len();
    let to = from + text[from..].find(&end).expect("end marker");
    &text[from..to]
}

#[test]
fn the_readme_shows_the_example_file() {
    let block = section(README, "example");
    let code = block
        .strip_prefix("```rust\n")
        .and_then(|rest| rest.strip_suffix("```\n"))
        .expect("one rust code block");
    assert!(
        code == EXAMPLE,
        "README.md's example differs from examples/record_my_program.rs: copy the file's text \
         between the example markers"
    );
}
