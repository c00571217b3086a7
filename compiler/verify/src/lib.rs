//! Native verifiers behind the standard library's `extern` declarations (`std::verify`,
//! `std::extract`, `std::format`, `std::length`). Pure functions over text and numbers; every one is
//! linear or bounded in its input, so a reward never needs a timeout.

pub mod extract;
pub mod geometry;
pub mod length;
pub mod math;
pub mod porter;
pub mod similarity;
pub mod text;

pub use extract::{
    answer_line, answer_tag, boxed, completion_answer, final_answer, json_field, last_line_match,
    last_number, parse_box, parse_boxes, parse_permutation, parse_point, python_float, tag,
};
pub use geometry::{box_union_iou, iou, l1_distance, point_in_box, position_match};
pub use length::{cosine_length, overlong_penalty};
pub use math::{math_equiv, numeric_close, parse_number};
pub use similarity::{
    anls, bleu4, edit_similarity, ngram_repetition, rouge_l, rouge_l_with, rouge_n,
};
pub use text::{
    choice_equiv, contains_match, exact_match, one_of, parse_mcq, relaxed_match, tag_count,
    tags_in_order, think_answer,
};
