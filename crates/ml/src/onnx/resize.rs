//! ONNX `Resize` in `nearest` and `linear` modes (what Keras's UpSampling2D and Resizing,
//! torch's `interpolate` and TensorFlow's `resize` export to), one axis at a time. Both modes
//! are index selections along the axis (linear: two selections and a weighted sum), so
//! gradients reach the input. The coordinate transformation modes are ONNX's: half_pixel,
//! pytorch_half_pixel, half_pixel_symmetric, align_corners, asymmetric, tf_half_pixel_for_nn.
//! Cubic interpolation, tf_crop_and_resize, antialiased downscaling and aspect-ratio
//! policies other than stretch are refused by name.

use burn::prelude::*;

use super::ops::input;
use super::proto::NodeProto;
use super::value::{unsupported, Value};
use crate::error::Result;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Nearest,
    Linear,
}

pub fn resize(node: &NodeProto, inputs: &[Option<Value>]) -> Result<Value> {
    let refuse = |what: String| unsupported(format!("Resize `{}`: {what}", node.name));
    let text = |name: &str, default: &str| {
        node.attr(name)
            .and_then(|a| a.s.clone())
            .unwrap_or_else(|| default.into())
    };
    let mode = match text("mode", "nearest").as_str() {
        "nearest" => Mode::Nearest,
        "linear" => Mode::Linear,
        other => {
            return Err(refuse(format!(
                "mode `{other}` is not supported (nearest, linear)"
            )))
        }
    };
    let transform = text("coordinate_transformation_mode", "half_pixel");
    if transform == "tf_crop_and_resize" {
        return Err(refuse(
            "coordinate transformation tf_crop_and_resize is not supported".into(),
        ));
    }
    let nearest_mode = text("nearest_mode", "round_prefer_floor");
    let policy = text("keep_aspect_ratio_policy", "stretch");
    if policy != "stretch" {
        return Err(refuse(format!(
            "keep_aspect_ratio_policy `{policy}` is not supported"
        )));
    }
    let antialias = node.attr("antialias").and_then(|a| a.i).unwrap_or(0) != 0;

    let x = input(inputs, 0, node)?.clone();
    let dims = x.dims();
    let rank = dims.len();
    if rank > 4 || matches!(x, Value::Ints(..)) {
        return Err(refuse(format!(
            "input of shape {dims:?}: only float tensors up to rank 4"
        )));
    }
    // Opset 10 has (X, scales); opset 11+ (X, roi, scales, sizes). An empty tensor is absent.
    let present = |i: usize| {
        inputs
            .get(i)
            .and_then(|v| v.clone())
            .filter(|v| v.dims().iter().product::<usize>() > 0)
    };
    let (scales_at, sizes_at) = if inputs.len() == 2 {
        (1, usize::MAX)
    } else {
        (2, 3)
    };
    let axes: Vec<usize> = match node.attr("axes") {
        Some(a) => a
            .ints
            .iter()
            .map(|v| super::ops::axis(*v, rank, node))
            .collect::<Result<_>>()?,
        None => (0..rank).collect(),
    };
    let per_axis: Vec<(usize, f64)> = match (present(scales_at), present(sizes_at)) {
        (Some(scales), None) => {
            let s = crate::tensor::to_vec(scales.float1()?);
            if s.len() != axes.len() {
                return Err(refuse(format!(
                    "{} scales for {} axes",
                    s.len(),
                    axes.len()
                )));
            }
            axes.iter()
                .zip(&s)
                .map(|(a, s)| {
                    if !(s.is_finite() && *s > 0.0) {
                        return Err(refuse(format!("scale {s} must be positive")));
                    }
                    let out = (dims[*a] as f64 * *s as f64).floor() as usize;
                    Ok((out, *s as f64))
                })
                .collect::<Result<_>>()?
        }
        (None, Some(sizes)) => {
            let s = super::more_ops::host_ints(&sizes)?;
            if s.len() != axes.len() {
                return Err(refuse(format!("{} sizes for {} axes", s.len(), axes.len())));
            }
            axes.iter()
                .zip(&s)
                .map(|(a, o)| {
                    let o = usize::try_from(*o)
                        .ok()
                        .filter(|o| *o > 0)
                        .ok_or_else(|| refuse(format!("size {o} must be positive")))?;
                    Ok((o, o as f64 / dims[*a] as f64))
                })
                .collect::<Result<_>>()?
        }
        (Some(_), Some(_)) => return Err(refuse("both scales and sizes are given".into())),
        (None, None) => return Err(refuse("neither scales nor sizes is given".into())),
    };

    let shift = 4 - rank;
    let mut t = x.lift(4)?.float4()?;
    let mut out_dims = dims.clone();
    for (a, (out_len, scale)) in axes.iter().zip(per_axis) {
        let in_len = dims[*a];
        if out_len == in_len && (scale - 1.0).abs() < 1e-12 {
            continue;
        }
        if out_len == 0 {
            return Err(refuse(format!("axis {a} would resize {in_len} to 0")));
        }
        if antialias && mode == Mode::Linear && scale < 1.0 {
            return Err(refuse("antialiased downscaling is not supported".into()));
        }
        let coords: Vec<f64> = (0..out_len)
            .map(|o| source_coordinate(&transform, o, in_len, out_len, scale))
            .collect::<std::result::Result<_, _>>()
            .map_err(refuse)?;
        let last = (in_len - 1) as i64;
        let clamp = |i: i64| i.clamp(0, last);
        let dim = a + shift;
        let device = t.device();
        let index =
            |v: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(v, [out_len]), &device);
        t = match mode {
            Mode::Nearest => {
                let picks = coords
                    .iter()
                    .map(|x| nearest(&nearest_mode, *x).map(clamp))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(refuse)?;
                t.select(dim, index(picks))
            }
            Mode::Linear => {
                let lo: Vec<i64> = coords.iter().map(|x| clamp(x.floor() as i64)).collect();
                let hi: Vec<i64> = coords.iter().map(|x| clamp(x.floor() as i64 + 1)).collect();
                let w: Vec<f32> = coords.iter().map(|x| (x - x.floor()) as f32).collect();
                let mut shape = [1usize; 4];
                shape[dim] = out_len;
                let w =
                    Tensor::<1>::from_data(TensorData::new(w, [out_len]), &device).reshape(shape);
                let below = t.clone().select(dim, index(lo));
                let above = t.select(dim, index(hi));
                below.clone() + (above - below) * w
            }
        };
        out_dims[*a] = out_len;
    }
    Value::F4(t).reshape(&out_dims)
}

/// The input coordinate that output index `o` samples, per ONNX's transformation modes.
fn source_coordinate(
    mode: &str,
    o: usize,
    in_len: usize,
    out_len: usize,
    scale: f64,
) -> std::result::Result<f64, String> {
    let (o, input, output) = (o as f64, in_len as f64, out_len as f64);
    Ok(match mode {
        "half_pixel" => (o + 0.5) / scale - 0.5,
        "pytorch_half_pixel" if out_len > 1 => (o + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => 0.0,
        "half_pixel_symmetric" => {
            let adjustment = output / (scale * input);
            let offset = input / 2.0 * (1.0 - adjustment);
            offset + (o + 0.5) / scale - 0.5
        }
        "align_corners" if out_len > 1 => o * (input - 1.0) / (output - 1.0),
        "align_corners" => 0.0,
        "asymmetric" => o / scale,
        "tf_half_pixel_for_nn" => (o + 0.5) / scale,
        other => {
            return Err(format!(
                "coordinate transformation `{other}` is not supported"
            ))
        }
    })
}

fn nearest(mode: &str, x: f64) -> std::result::Result<i64, String> {
    let halfway = (x - x.floor() - 0.5).abs() < 1e-9;
    Ok(match mode {
        "round_prefer_floor" if halfway => x.floor() as i64,
        "round_prefer_ceil" if halfway => x.ceil() as i64,
        "round_prefer_floor" | "round_prefer_ceil" => x.round() as i64,
        "floor" => x.floor() as i64,
        "ceil" => x.ceil() as i64,
        other => return Err(format!("nearest_mode `{other}` is not supported")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::AttributeProto;

    fn text(name: &str, value: &str) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            s: Some(value.into()),
            ..Default::default()
        }
    }

    fn run(attrs: Vec<AttributeProto>, x: &[f32], shape: &[usize], scales: &[f32]) -> Vec<f32> {
        let device = crate::tensor::device();
        let node = NodeProto {
            name: "r".into(),
            op_type: "Resize".into(),
            attributes: attrs,
            ..Default::default()
        };
        let inputs = vec![
            Some(Value::from_floats(x, shape, &device).unwrap()),
            None,
            Some(Value::from_floats(scales, &[scales.len()], &device).unwrap()),
        ];
        let out = resize(&node, &inputs).unwrap();
        crate::tensor::to_vec(out.float4().unwrap())
    }

    /// Values from onnx's reference implementation (onnx.reference) on the same inputs.
    #[test]
    fn linear_and_nearest_match_the_onnx_reference() {
        let x = [1.0, 2.0, 3.0, 4.0];
        // Upsampling [[1, 2], [3, 4]] by 2 with half_pixel linear: the ONNX test case.
        let up = run(
            vec![text("mode", "linear")],
            &x,
            &[1, 1, 2, 2],
            &[1.0, 1.0, 2.0, 2.0],
        );
        let expected = [
            1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
        ];
        assert_eq!(up, expected);
        // align_corners keeps the corners.
        let corners = run(
            vec![
                text("mode", "linear"),
                text("coordinate_transformation_mode", "align_corners"),
            ],
            &x,
            &[1, 1, 2, 2],
            &[1.0, 1.0, 1.5, 1.5],
        );
        assert_eq!(corners, [1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 4.0]);
        // Nearest, asymmetric, floor (TensorFlow's and Keras's nearest upsampling).
        let nearest = run(
            vec![
                text("coordinate_transformation_mode", "asymmetric"),
                text("nearest_mode", "floor"),
            ],
            &x,
            &[1, 1, 2, 2],
            &[1.0, 1.0, 2.0, 2.0],
        );
        assert_eq!(
            nearest,
            [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0]
        );
    }

    #[test]
    fn cubic_and_missing_scales_are_refused() {
        let device = crate::tensor::device();
        let node = NodeProto {
            name: "r".into(),
            op_type: "Resize".into(),
            attributes: vec![text("mode", "cubic")],
            ..Default::default()
        };
        let x = Some(Value::from_floats(&[1.0; 4], &[1, 1, 2, 2], &device).unwrap());
        let err = resize(&node, &[x.clone(), None, None]).unwrap_err();
        assert!(err.to_string().contains("mode `cubic`"), "{err}");
        let plain = NodeProto {
            attributes: vec![],
            ..node
        };
        let err = resize(&plain, &[x, None, None]).unwrap_err();
        assert!(
            err.to_string().contains("neither scales nor sizes"),
            "{err}"
        );
    }
}
