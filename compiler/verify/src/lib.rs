//! Native verifiers behind the standard library's `extern` declarations (`std::verify`,
//! `std::extract`). Pure functions over text; every one is linear or bounded in its input, so a
//! reward never needs a timeout.

pub mod extract;
pub mod math;

pub use extract::{answer_line, answer_tag, boxed, final_answer, last_number, tag};
pub use math::math_equiv;
