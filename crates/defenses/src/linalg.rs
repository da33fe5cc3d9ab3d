//! The little linear algebra the data-poisoning defences need: principal directions by
//! power iteration with deflation, and two-means clustering. Sizes are small (a class's
//! activations, 128 wide), so plain loops suffice.

use aisec_core::rng::Rng;

/// The indices of `class` in `labels` and their rows of `activations` (`n × width`), centred.
pub fn class_rows(
    activations: &[f32],
    width: usize,
    labels: &[usize],
    class: usize,
) -> (Vec<usize>, Vec<f32>) {
    let members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
    let rows: Vec<f32> = members
        .iter()
        .flat_map(|&i| activations[i * width..(i + 1) * width].to_vec())
        .collect();
    let centred = centred(&rows, width);
    (members, centred)
}

/// Rows of `x` (`n × d`) minus their mean.
pub fn centred(x: &[f32], d: usize) -> Vec<f32> {
    let n = x.len() / d.max(1);
    let mut mean = vec![0.0f64; d];
    for row in x.chunks(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += f64::from(*v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    x.chunks(d)
        .flat_map(|row| {
            row.iter()
                .zip(&mean)
                .map(|(v, m)| (f64::from(*v) - m) as f32)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The top `k` right singular vectors of centred `x` (`n × d`), by power iteration on
/// xᵀx with deflation; each of length `d`, unit norm.
pub fn principal_directions(x: &[f32], d: usize, k: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut cov = vec![0.0f64; d * d];
    for row in x.chunks(d) {
        for i in 0..d {
            let ri = f64::from(row[i]);
            if ri == 0.0 {
                continue;
            }
            for j in 0..d {
                cov[i * d + j] += ri * f64::from(row[j]);
            }
        }
    }
    let mut rng = Rng::derive(seed, "power-iteration");
    let mut out: Vec<Vec<f64>> = Vec::new();
    for _ in 0..k.min(d) {
        let mut v: Vec<f64> = (0..d).map(|_| f64::from(rng.normal())).collect();
        for _ in 0..200 {
            let mut w = vec![0.0f64; d];
            for i in 0..d {
                w[i] = (0..d).map(|j| cov[i * d + j] * v[j]).sum();
            }
            // Deflation: stay orthogonal to the directions already found.
            for u in &out {
                let dot: f64 = w.iter().zip(u).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
            }
            let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            let next: Vec<f64> = w.iter().map(|a| a / norm).collect();
            let change: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = next;
            if change < 1e-9 {
                break;
            }
        }
        out.push(v);
    }
    out
}

/// Coordinates of the rows of `x` along `directions`.
pub fn project(x: &[f32], d: usize, directions: &[Vec<f64>]) -> Vec<Vec<f64>> {
    x.chunks(d)
        .map(|row| {
            directions
                .iter()
                .map(|u| row.iter().zip(u).map(|(a, b)| f64::from(*a) * b).sum())
                .collect()
        })
        .collect()
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Two-means clustering (k-means++ seeding, Lloyd iterations): the cluster of each point and
/// the simplified silhouette (distances to the two centroids) averaged over the points.
pub fn two_means(points: &[Vec<f64>], seed: u64) -> (Vec<usize>, f64) {
    let n = points.len();
    if n < 2 {
        return (vec![0; n], 0.0);
    }
    let mut rng = Rng::derive(seed, "two-means");
    let first = (rng.next_u64() % n as u64) as usize;
    let d: Vec<f64> = points.iter().map(|p| dist2(p, &points[first])).collect();
    let total: f64 = d.iter().sum();
    let mut pick = f64::from(rng.uniform(0.0, 1.0)) * total;
    let mut second = 0;
    for (i, di) in d.iter().enumerate() {
        pick -= di;
        if pick <= 0.0 {
            second = i;
            break;
        }
    }
    let mut centres = [points[first].clone(), points[second].clone()];
    let mut assign = vec![0usize; n];
    for _ in 0..100 {
        let mut changed = false;
        for (i, p) in points.iter().enumerate() {
            let a = usize::from(dist2(p, &centres[1]) < dist2(p, &centres[0]));
            changed |= a != assign[i];
            assign[i] = a;
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&Vec<f64>> = points
                .iter()
                .zip(&assign)
                .filter(|(_, a)| **a == c)
                .map(|(p, _)| p)
                .collect();
            if members.is_empty() {
                continue;
            }
            for (k, v) in centre.iter_mut().enumerate() {
                *v = members.iter().map(|m| m[k]).sum::<f64>() / members.len() as f64;
            }
        }
        if !changed {
            break;
        }
    }
    let silhouette = points
        .iter()
        .zip(&assign)
        .map(|(p, a)| {
            let own = dist2(p, &centres[*a]).sqrt();
            let other = dist2(p, &centres[1 - a]).sqrt();
            let m = own.max(other);
            if m == 0.0 {
                0.0
            } else {
                (other - own) / m
            }
        })
        .sum::<f64>()
        / n as f64;
    (assign, silhouette)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_direction_of_largest_variance_and_two_clusters() {
        let mut rng = Rng::derive(1, "t");
        let mut x = Vec::new();
        for _ in 0..200 {
            let t = rng.normal();
            x.extend([3.0 * t, 0.1 * rng.normal(), 0.1 * rng.normal()]);
        }
        let c = centred(&x, 3);
        let v = &principal_directions(&c, 3, 1, 2)[0];
        assert!(v[0].abs() > 0.99, "{v:?}");
        let points: Vec<Vec<f64>> = (0..60)
            .map(|i| vec![if i < 20 { 5.0 } else { 0.0 } + f64::from(rng.normal()) * 0.1])
            .collect();
        let (assign, silhouette) = two_means(&points, 3);
        assert!(
            assign[..20].iter().all(|a| *a == assign[0])
                && assign[20..].iter().all(|a| *a != assign[0])
        );
        assert!(silhouette > 0.9);
    }
}
