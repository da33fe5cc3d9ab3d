//! L2-regularised logistic regression on sparse rows, fitted with L-BFGS (Liu & Nocedal 1989)
//! and a backtracking line search: the primal problem
//! `min_w ½‖w‖² + C Σ log(1 + exp(−yᵢ(w·xᵢ + b)))` that liblinear and scikit-learn solve, so
//! `C` means what it means there. The bias is not regularised. Deterministic: no sampling.

use super::features::SparseRow;

#[derive(Debug, Clone)]
pub struct Fit {
    pub weights: Vec<f32>,
    pub bias: f32,
    pub iterations: usize,
    pub loss: f64,
}

fn dot(row: &SparseRow, w: &[f64]) -> f64 {
    row.iter().map(|&(j, v)| w[j as usize] * v as f64).sum()
}

/// Softplus without overflow.
fn log1pexp(z: f64) -> f64 {
    if z > 30.0 {
        z
    } else {
        z.exp().ln_1p()
    }
}

/// Objective and gradient at `w` (the last entry is the bias).
fn eval(rows: &[SparseRow], y: &[f64], c: f64, w: &[f64], grad: &mut [f64]) -> f64 {
    let d = w.len() - 1;
    let bias = w[d];
    let mut loss = 0.0;
    for (k, g) in grad.iter_mut().enumerate().take(d) {
        *g = w[k];
        loss += 0.5 * w[k] * w[k];
    }
    grad[d] = 0.0;
    for (row, &yi) in rows.iter().zip(y) {
        let margin = yi * (dot(row, w) + bias);
        loss += c * log1pexp(-margin);
        // d/dz log(1+exp(-y z)) = -y σ(-y z)
        let s = -yi * c / (1.0 + margin.exp());
        for &(j, v) in row {
            grad[j as usize] += s * v as f64;
        }
        grad[d] += s;
    }
    loss
}

/// Fits on rows over `dim` columns; labels are 0/1.
pub fn fit(rows: &[SparseRow], labels: &[u8], dim: usize, c: f64, max_iter: usize) -> Fit {
    let y: Vec<f64> = labels
        .iter()
        .map(|&l| if l == 1 { 1.0 } else { -1.0 })
        .collect();
    let n = dim + 1;
    let memory = 10;
    let mut w = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut f = eval(rows, &y, c, &w, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho: Vec<f64> = Vec::new();
    let mut iterations = 0;
    let g0 = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let (mut w_new, mut g_new) = (vec![0.0; n], vec![0.0; n]);
    for it in 0..max_iter {
        iterations = it + 1;
        // Two-loop recursion: direction = −H g.
        let mut q = g.clone();
        let mut alpha = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            alpha[i] = rho[i] * s_hist[i].iter().zip(&q).map(|(a, b)| a * b).sum::<f64>();
            for (qk, yk) in q.iter_mut().zip(&y_hist[i]) {
                *qk -= alpha[i] * yk;
            }
        }
        if let (Some(s), Some(yv)) = (s_hist.last(), y_hist.last()) {
            let sy: f64 = s.iter().zip(yv).map(|(a, b)| a * b).sum();
            let yy: f64 = yv.iter().map(|a| a * a).sum();
            let gamma = sy / yy.max(1e-300);
            q.iter_mut().for_each(|v| *v *= gamma);
        } else {
            let norm = g0.max(1e-12);
            q.iter_mut().for_each(|v| *v /= norm);
        }
        for i in 0..s_hist.len() {
            let beta = rho[i] * y_hist[i].iter().zip(&q).map(|(a, b)| a * b).sum::<f64>();
            for (qk, sk) in q.iter_mut().zip(&s_hist[i]) {
                *qk += (alpha[i] - beta) * sk;
            }
        }
        let dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope: f64 = dir.iter().zip(&g).map(|(a, b)| a * b).sum();
        if slope >= 0.0 {
            // Not a descent direction: start the memory afresh.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            continue;
        }
        let mut step = 1.0;
        let mut f_new;
        loop {
            for k in 0..n {
                w_new[k] = w[k] + step * dir[k];
            }
            f_new = eval(rows, &y, c, &w_new, &mut g_new);
            if f_new <= f + 1e-4 * step * slope || step < 1e-10 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = (0..n).map(|k| w_new[k] - w[k]).collect();
        let yv: Vec<f64> = (0..n).map(|k| g_new[k] - g[k]).collect();
        let sy: f64 = s.iter().zip(&yv).map(|(a, b)| a * b).sum();
        std::mem::swap(&mut w, &mut w_new);
        std::mem::swap(&mut g, &mut g_new);
        let improvement = (f - f_new).abs() / f.abs().max(1.0);
        f = f_new;
        if sy > 1e-10 {
            if s_hist.len() == memory {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(yv);
            rho.push(1.0 / sy);
        }
        let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if gnorm <= 1e-5 * g0 || improvement < 1e-9 {
            break;
        }
    }
    Fit {
        bias: w[dim] as f32,
        weights: w[..dim].iter().map(|&v| v as f32).collect(),
        iterations,
        loss: f,
    }
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_a_separable_toy_problem_and_matches_the_closed_form_bias() {
        // Feature 0 marks positives, feature 1 negatives.
        let rows: Vec<SparseRow> = (0..40)
            .map(|i| {
                if i % 2 == 0 {
                    vec![(0, 1.0)]
                } else {
                    vec![(1, 1.0)]
                }
            })
            .collect();
        let labels: Vec<u8> = (0..40).map(|i| u8::from(i % 2 == 0)).collect();
        let fit = fit(&rows, &labels, 2, 1.0, 200);
        assert!(fit.weights[0] > 1.0 && fit.weights[1] < -1.0, "{fit:?}");
        // Symmetric problem: the bias is ~0 and the weights are opposite.
        assert!(fit.bias.abs() < 1e-3, "{fit:?}");
        assert!((fit.weights[0] + fit.weights[1]).abs() < 1e-3, "{fit:?}");
        // Stationarity: w0 = C Σ y σ(−y z) over the 20 positives.
        let z = (fit.weights[0] + fit.bias) as f64;
        let expected = 20.0 * sigmoid(-z);
        assert!(
            (fit.weights[0] as f64 - expected).abs() < 1e-3,
            "{} vs {expected}",
            fit.weights[0]
        );
    }
}
