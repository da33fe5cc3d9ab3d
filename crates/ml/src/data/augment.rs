//! Natural variations of images: small random rotations, scalings and shifts with bilinear
//! resampling, as a benign user's photos of the same kind of object differ. Monitoring
//! defences are measured on such streams, which are longer than the held-out data.

use aisec_core::rng::Rng;

use super::Dataset;

/// `n` inputs, each a random example of `data` under a random small affine transform
/// (rotation within ±`max_degrees`, scale within 1 ± `max_scale`, shift within ±`max_shift`
/// pixels). Tabular data (no image shape) gets Gaussian jitter of 0.1 per feature instead.
/// Labels are the source examples'.
pub fn natural_variations(data: &Dataset, n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::derive(seed, "natural-variations");
    let f = data.features();
    let (h, w) = match data.sample_shape.as_slice() {
        [1, h, w] | [h, w] => (*h, *w),
        _ => (0, 0),
    };
    let mut x = Vec::with_capacity(n * f);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let i = rng.below(data.len());
        let src = data.sample(i);
        y.push(data.y[i]);
        if h == 0 {
            x.extend(src.iter().map(|v| v + 0.1 * rng.normal()));
            continue;
        }
        let angle = rng.uniform(-12.0, 12.0).to_radians();
        let scale = rng.uniform(0.9, 1.1);
        let (dy, dx) = (rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0));
        let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
        let (sin, cos) = angle.sin_cos();
        for r in 0..h {
            for c in 0..w {
                // Where this output pixel comes from in the source image.
                let (yr, xr) = (r as f32 - cy - dy, c as f32 - cx - dx);
                let sy = (cos * yr + sin * xr) / scale + cy;
                let sx = (-sin * yr + cos * xr) / scale + cx;
                x.push(bilinear(src, h, w, sy, sx));
            }
        }
    }
    let mut out = data.clone();
    out.name = format!("{} (natural variations)", data.name);
    out.x = x;
    out.y = y;
    if let Some(range) = data.input_range {
        for v in &mut out.x {
            *v = v.clamp(range.lo, range.hi);
        }
    }
    out
}

fn bilinear(img: &[f32], h: usize, w: usize, y: f32, x: f32) -> f32 {
    let at = |r: isize, c: isize| {
        if r < 0 || c < 0 || r >= h as isize || c >= w as isize {
            0.0
        } else {
            img[r as usize * w + c as usize]
        }
    };
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let (r, c) = (y0 as isize, x0 as isize);
    at(r, c) * (1.0 - fy) * (1.0 - fx)
        + at(r, c + 1) * (1.0 - fy) * fx
        + at(r + 1, c) * fy * (1.0 - fx)
        + at(r + 1, c + 1) * fy * fx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::BuiltinDataset;

    #[test]
    fn variations_keep_shape_range_and_differ_from_their_sources() {
        let test = BuiltinDataset::Digits.split().1;
        let v = natural_variations(&test, 50, 1);
        assert_eq!(v.len(), 50);
        assert_eq!(v.x.len(), 50 * 64);
        assert!(v.x.iter().all(|p| (0.0..=1.0).contains(p)));
        let exact_copies =
            v.x.chunks(64)
                .filter(|row| test.x.chunks(64).any(|src| src == *row))
                .count();
        assert_eq!(exact_copies, 0);
    }
}
