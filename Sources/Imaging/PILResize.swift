/// Resizing exactly as Pillow 9–13 does for 8-bit RGB images (libImaging/Geometry.c and Resample.c), so
/// that tensors match what Keras's `load_img` and torchvision's `Resize` hand the network:
/// - `nearest`: `Image.resize(size, NEAREST)` — `ImagingScaleAffine`, source positions accumulated in
///   double from half a step;
/// - `bilinear`: `Image.resize(size, BILINEAR)` — separable triangle filter widened by the scale when
///   shrinking (antialiasing), 22-bit fixed-point coefficients, horizontal pass then vertical, each
///   rounded and clipped to 8 bits.
public enum PILResize {
    public static func nearest(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        if image.width == width && image.height == height { return image }
        func positions(_ input: Int, _ output: Int) -> [Int] {
            let step = Double(input) / Double(output)
            var position = step * 0.5
            return (0..<output).map { _ in
                defer { position += step }
                return position < 0 ? -1 : min(Int(position), input - 1)
            }
        }
        let (xs, ys) = (positions(image.width, width), positions(image.height, height))
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for (y, sy) in ys.enumerated() {
            for (x, sx) in xs.enumerated() {
                let (to, from) = ((y * width + x) * 3, (sy * image.width + sx) * 3)
                out[to] = image.pixels[from]; out[to + 1] = image.pixels[from + 1]; out[to + 2] = image.pixels[from + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    public static func bilinear(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        if image.width == width && image.height == height { return image }
        let horizontal = Coefficients(input: image.width, output: width)
        let vertical = Coefficients(input: image.height, output: height)
        var current = image
        // Only the source rows the vertical pass reads go through the horizontal pass.
        let first = vertical.bounds.first?.start ?? 0
        let last = vertical.bounds.last.map { $0.start + $0.count } ?? image.height
        if width != image.width {
            var out = [UInt8](repeating: 0, count: width * (last - first) * 3)
            for y in first..<last {
                for x in 0..<width {
                    let (start, count) = horizontal.bounds[x]
                    var sums = (Self.half, Self.half, Self.half)
                    for k in 0..<count {
                        let weight = horizontal.weights[x * horizontal.size + k], p = ((y * image.width) + start + k) * 3
                        sums.0 += Int32(image.pixels[p]) * weight
                        sums.1 += Int32(image.pixels[p + 1]) * weight
                        sums.2 += Int32(image.pixels[p + 2]) * weight
                    }
                    let o = ((y - first) * width + x) * 3
                    out[o] = clip(sums.0); out[o + 1] = clip(sums.1); out[o + 2] = clip(sums.2)
                }
            }
            current = RGBImage(width: width, height: last - first, pixels: out)
        } else if first != 0 || last != image.height {
            current = RGBImage(width: width, height: last - first, pixels: Array(image.pixels[(first * width * 3)..<(last * width * 3)]))
        }
        guard height != image.height else { return current }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let (start, count) = vertical.bounds[y]
            for x in 0..<width {
                var sums = (Self.half, Self.half, Self.half)
                for k in 0..<count {
                    let weight = vertical.weights[y * vertical.size + k], p = ((start - first + k) * width + x) * 3
                    sums.0 += Int32(current.pixels[p]) * weight
                    sums.1 += Int32(current.pixels[p + 1]) * weight
                    sums.2 += Int32(current.pixels[p + 2]) * weight
                }
                let o = (y * width + x) * 3
                out[o] = clip(sums.0); out[o + 1] = clip(sums.1); out[o + 2] = clip(sums.2)
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Pillow's PRECISION_BITS for 8-bit images.
    static let precision: Int32 = 32 - 8 - 2
    static let half: Int32 = 1 << (precision - 1)

    static func clip(_ sum: Int32) -> UInt8 {
        let value = sum >> precision
        return value < 0 ? 0 : value > 255 ? 255 : UInt8(value)
    }

    /// Pillow's `precompute_coeffs` with the bilinear (triangle) filter, normalised and then rounded to
    /// fixed point as `normalize_coeffs_8bpc` does.
    struct Coefficients {
        /// Per output position: the first input index and how many inputs contribute.
        var bounds: [(start: Int, count: Int)] = []
        /// `size` weights per output position.
        var weights: [Int32] = []
        var size: Int

        init(input: Int, output: Int) {
            let scale = Double(input) / Double(output)
            let filterScale = max(scale, 1)
            let support = 1.0 * filterScale
            size = Int(support.rounded(.up)) * 2 + 1
            for x in 0..<output {
                let center = (Double(x) + 0.5) * scale
                let inverse = 1 / filterScale
                let low = max(Int(center - support + 0.5), 0)
                let high = min(Int(center - -support + 0.5), input)
                var row = [Double](repeating: 0, count: size)
                var total = 0.0
                for k in 0..<(high - low) {
                    let distance = abs((Double(k + low) - center + 0.5) * inverse)
                    let weight = distance < 1 ? 1 - distance : 0
                    row[k] = weight
                    total += weight
                }
                if total != 0 { for k in 0..<(high - low) { row[k] /= total } }
                bounds.append((low, high - low))
                weights += row.map { $0 < 0 ? Int32(-0.5 + $0 * Double(1 << PILResize.precision)) : Int32(0.5 + $0 * Double(1 << PILResize.precision)) }
            }
        }
    }

    /// torchvision's `CenterCrop`: the top-left corner at Python's `round((size - crop) / 2)` (ties to even).
    public static func centerCrop(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        func offset(_ size: Int, _ crop: Int) -> Int { Int((Double(size - crop) / 2).rounded(.toNearestOrEven)) }
        let (top, left) = (offset(image.height, height), offset(image.width, width))
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let (sy, sx) = (y + top, x + left)
                guard sy >= 0, sy < image.height, sx >= 0, sx < image.width else { continue }  // torchvision pads with 0
                let (to, from) = ((y * width + x) * 3, (sy * image.width + sx) * 3)
                out[to] = image.pixels[from]; out[to + 1] = image.pixels[from + 1]; out[to + 2] = image.pixels[from + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
