//! Sliding-window geometry shared by convolution and pooling.
use crate::error::{Error, Result};

/// One spatial axis of a window: input size, kernel, stride, padding, dilation.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    pub size: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad_before: usize,
    pub pad_after: usize,
    pub dilation: usize,
}

impl Axis {
    /// The height and width axes over an input of `[h, w]`, from
    /// NHWC-style `[kh, kw]` / `[top, left, bottom, right]` parameters.
    pub fn hw(
        size: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 4],
        dilation: [usize; 2],
    ) -> Result<[Self; 2]> {
        if kernel.contains(&0) || stride.contains(&0) || dilation.contains(&0) {
            return Err(Error::Backend("kernel, stride and dilation must be positive".into()));
        }
        Ok([0, 1].map(|i| Axis {
            size: size[i],
            kernel: kernel[i],
            stride: stride[i],
            pad_before: pad[i],
            pad_after: pad[i + 2],
            dilation: dilation[i],
        }))
    }

    /// Span of the dilated kernel.
    fn extent(&self) -> usize {
        self.dilation * (self.kernel - 1) + 1
    }

    fn padded(&self) -> usize {
        self.size + self.pad_before + self.pad_after
    }

    /// Output size with floor rounding (None if the kernel doesn't fit).
    pub fn out_floor(&self) -> Option<usize> {
        self.padded().checked_sub(self.extent()).map(|d| d / self.stride + 1)
    }

    /// Output size with ceil rounding (pooling's `ceil_mode`).
    pub fn out_ceil(&self) -> Option<usize> {
        self.padded().checked_sub(self.extent()).map(|d| d.div_ceil(self.stride) + 1)
    }

    /// Signed input coordinate of tap `k` for output position `o`.
    #[inline]
    pub fn coord(&self, o: usize, k: usize) -> isize {
        (o * self.stride + k * self.dilation) as isize - self.pad_before as isize
    }

    /// Input coordinate of tap `k` if it lies inside the image.
    #[inline]
    pub fn inside(&self, o: usize, k: usize) -> Option<usize> {
        let c = self.coord(o, k);
        (c >= 0 && (c as usize) < self.size).then_some(c as usize)
    }

    /// Taps of output `o` that lie inside the image, as `(k, input coordinate)`.
    #[inline]
    pub fn taps(&self, o: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.kernel).filter_map(move |k| self.inside(o, k).map(|i| (k, i)))
    }

    /// Taps of output `o` inside the padded extent (image plus padding).
    pub fn padded_taps(&self, o: usize) -> usize {
        let hi = (self.size + self.pad_after) as isize;
        (0..self.kernel).filter(|&k| (-(self.pad_before as isize)..hi).contains(&self.coord(o, k))).count()
    }
}
