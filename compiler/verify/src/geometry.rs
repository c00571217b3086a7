//! Boxes `(x1, y1, x2, y2)`: IoU, IoU of unions, point in box, L1 distance.

pub type BoxXyxy = [f64; 4];

fn area(b: &BoxXyxy) -> f64 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

/// Intersection over union; 0 when both are empty.
pub fn iou(a: &BoxXyxy, b: &BoxXyxy) -> f64 {
    let inter = [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ];
    let intersection = area(&inter);
    let union = area(a) + area(b) - intersection;
    if union > 0.0 {
        intersection / union
    } else {
        0.0
    }
}

/// Union lists longer than this are cut (the grid below is quadratic in the number of boxes).
const MAX_BOXES: usize = 64;

/// The area covered by the union of boxes, by coordinate compression.
fn union_area(boxes: &[BoxXyxy]) -> f64 {
    let boxes = &boxes[..boxes.len().min(MAX_BOXES)];
    let mut xs: Vec<f64> = boxes.iter().flat_map(|b| [b[0], b[2]]).collect();
    let mut ys: Vec<f64> = boxes.iter().flat_map(|b| [b[1], b[3]]).collect();
    xs.sort_by(f64::total_cmp);
    ys.sort_by(f64::total_cmp);
    let mut total = 0.0;
    for x in xs.windows(2) {
        for y in ys.windows(2) {
            let (cx, cy) = ((x[0] + x[1]) / 2.0, (y[0] + y[1]) / 2.0);
            if boxes.iter().any(|b| point_in_box(cx, cy, b)) {
                total += (x[1] - x[0]) * (y[1] - y[0]);
            }
        }
    }
    total
}

/// IoU of the region covered by `a` with the region covered by `b` (SATORI-R1's box-union IoU).
pub fn box_union_iou(a: &[BoxXyxy], b: &[BoxXyxy]) -> f64 {
    let both: Vec<BoxXyxy> = a.iter().chain(b).copied().collect();
    let union = union_area(&both);
    if union <= 0.0 {
        return 0.0;
    }
    // |A ∩ B| = |A| + |B| − |A ∪ B|.
    let intersection = union_area(a) + union_area(b) - union;
    (intersection / union).clamp(0.0, 1.0)
}

pub fn point_in_box(x: f64, y: f64, b: &BoxXyxy) -> bool {
    b[0] <= x && x <= b[2] && b[1] <= y && y <= b[3]
}

/// Mean absolute difference of the four coordinates.
pub fn l1_distance(a: &BoxXyxy, b: &BoxXyxy) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q).abs()).sum::<f64>() / 4.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_boxes_and_unions() {
        assert!((iou(&[0.0, 0.0, 2.0, 2.0], &[1.0, 1.0, 3.0, 3.0]) - 1.0 / 7.0).abs() < 1e-12);
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[2.0, 2.0, 3.0, 3.0]), 0.0);
        let halves = [[0.0, 0.0, 1.0, 2.0], [1.0, 0.0, 2.0, 2.0]];
        assert!((box_union_iou(&halves, &[[0.0, 0.0, 2.0, 2.0]]) - 1.0).abs() < 1e-12);
        assert!(
            (box_union_iou(&[[0.0, 0.0, 1.0, 1.0]], &[[0.0, 0.0, 2.0, 1.0]]) - 0.5).abs() < 1e-12
        );
        assert!(point_in_box(1.0, 1.0, &[0.0, 0.0, 2.0, 2.0]));
        assert_eq!(
            l1_distance(&[0.0, 0.0, 2.0, 2.0], &[1.0, 1.0, 3.0, 3.0]),
            1.0
        );
    }
}

/// The share of `reference`'s positions that `answer` holds the same value at; 0 when their
/// lengths differ (Jigsaw-R1's `score_jigsaw_patches`).
pub fn position_match(answer: &[u64], reference: &[u64]) -> f64 {
    if answer.len() != reference.len() || reference.is_empty() {
        return 0.0;
    }
    let same = answer.iter().zip(reference).filter(|(a, b)| a == b).count();
    same as f64 / reference.len() as f64
}

#[cfg(test)]
mod position_tests {
    use super::position_match;

    #[test]
    fn positions_in_place() {
        assert_eq!(position_match(&[1, 2, 3, 4], &[1, 2, 4, 3]), 0.5);
        assert_eq!(position_match(&[1, 2, 3], &[1, 2, 3, 4]), 0.0);
        assert_eq!(position_match(&[], &[]), 0.0);
    }
}
