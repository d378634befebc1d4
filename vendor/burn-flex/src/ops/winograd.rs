//! clap-tools: 3×3 stride-1 padding-1 `f32` convolutions (forward, input and weight gradients)
//! through `clap_tools_kernels::winograd`; every other case (and `CLAP_TOOLS_KERNELS=stock`) goes on
//! to burn-flex's own path. See vendor/README.md.

use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_std::{Bytes, Shape};
use clap_tools_kernels::winograd::Conv3x3;

use crate::{FlexTensor, Layout};

/// The kernel's plan for a convolution of `x` by `weight`, if it takes it.
fn plan(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Option<Conv3x3> {
    if clap_tools_kernels::mode() == clap_tools_kernels::Mode::Stock
        || x.dtype() != DType::F32
        || weight.dtype() != DType::F32
        || options.stride != [1, 1]
        || options.padding != [1, 1]
        || options.dilation != [1, 1]
        || options.groups != 1
    {
        return None;
    }
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    if xs.num_dims() != 4 || ws.num_dims() != 4 || ws[2] != 3 || ws[3] != 3 || ws[1] != xs[1] {
        return None;
    }
    Some(Conv3x3 { batch: xs[0], c_in: xs[1], c_out: ws[0], height: xs[2], width: xs[3] })
}

fn tensor(values: Vec<f32>, dims: [usize; 4]) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(Shape::from(dims.to_vec())), DType::F32)
}

/// `conv2d`, if the kernel takes it.
pub fn conv2d_f32(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let conv = plan(x, weight, options)?;
    if bias.is_some_and(|b| b.dtype() != DType::F32) {
        return None;
    }
    let (x, weight) = (x.clone().to_contiguous(), weight.clone().to_contiguous());
    let bias = bias.map(|b| b.clone().to_contiguous());
    let y = conv.run(x.storage(), weight.storage(), bias.as_ref().map(|b| b.storage()));
    Some(tensor(y, [conv.batch, conv.c_out, conv.height, conv.width]))
}

/// `conv2d_x_backward`, if the kernel takes it.
pub fn conv2d_x_backward_f32(
    x: &FlexTensor,
    weight: &FlexTensor,
    output_grad: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    // A gradient of fewer than 8 channels (CNN14's first layer) is a product of a single row:
    // burn-flex's transposed convolution does that better.
    let conv = plan(x, weight, options).filter(|c| c.c_in >= 8)?;
    if output_grad.dtype() != DType::F32 {
        return None;
    }
    let (grad, weight) = (output_grad.clone().to_contiguous(), weight.clone().to_contiguous());
    let dx = conv.backward_input(grad.storage(), weight.storage());
    Some(tensor(dx, [conv.batch, conv.c_in, conv.height, conv.width]))
}

/// `conv2d_weight_backward`, if the kernel takes it (every 3×3 stride-1 f32 convolution).
pub fn conv2d_weight_backward_f32(
    x: &FlexTensor,
    weight: &FlexTensor,
    output_grad: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let conv = plan(x, weight, options)?;
    if output_grad.dtype() != DType::F32 {
        return None;
    }
    let (x, grad) = (x.clone().to_contiguous(), output_grad.clone().to_contiguous());
    let dw = conv.backward_weight(x.storage(), grad.storage());
    Some(tensor(dw, [conv.c_out, conv.c_in, 3, 3]))
}
