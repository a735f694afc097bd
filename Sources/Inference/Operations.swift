import CBLAS
import CKernels
import Foundation
import FileIO
import VGGCore

/// The elementwise activations the engine applies in place (softmax is a step of its own).
enum Elementwise: String, Sendable {
    case linear, relu, sigmoid, tanh

    /// The elementwise form of `activation`; nil for softmax.
    init?(_ activation: Activation) {
        switch activation {
        case .linear: self = .linear
        case .relu: self = .relu
        case .sigmoid: self = .sigmoid
        case .tanh: self = .tanh
        case .softmax: return nil
        }
    }

    func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .linear: return
        case .relu: for i in 0..<count where values[i] < 0 { values[i] = 0 }
        case .sigmoid: for i in 0..<count { values[i] = 1 / (1 + exp(-values[i])) }
        case .tanh: for i in 0..<count { values[i] = Foundation.tanh(values[i]) }
        }
    }
}

/// A 2-D convolution (cross-correlation, as Keras and PyTorch compute it) as a matrix product:
/// out(O × pixels) = W(O × C·kh·kw) · columns(C·kh·kw × pixels). The column matrix is built in bands
/// of output rows, so the big early layers never materialise their full im2col buffer.
struct Convolution: Sendable {
    let weights: Weights   // (O, C, kh, kw), i.e. row-major O × K
    let bias: [Float]
    let inputChannels: Int, outputChannels: Int
    let kernel: (h: Int, w: Int), stride: (h: Int, w: Int)
    let padTop: Int, padLeft: Int
    let activation: Elementwise
    static let bandBytes = 8 << 20

    var depth: Int { inputChannels * kernel.h * kernel.w }

    func run(input: UnsafePointer<Float>, height: Int, width: Int, outHeight: Int, outWidth: Int,
             output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let pixels = outHeight * outWidth
        let pointers = SendablePointers(input: input, output: output)
        let (weights, depth, channels) = (SendablePointers(input: self.weights.pointer, output: output), self.depth, outputChannels)
        /// out[rows of channels] = W[channels] · B, split by output channels across cores.
        func product(_ b: UnsafePointer<Float>, columns: Int, into out: UnsafeMutablePointer<Float>, ldc: Int) {
            let operand = SendablePointers(input: b, output: out)
            Parallel.forEachChunk(channels, minimumChunk: 8) { range in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(range.count), Int32(columns), Int32(depth), 1,
                            weights.input + range.lowerBound * depth, Int32(depth), operand.input, Int32(columns), 0,
                            operand.output + range.lowerBound * ldc, Int32(ldc))
            }
        }
        if kernel == (1, 1), stride == (1, 1), padTop == 0, padLeft == 0 {
            product(pointers.input, columns: pixels, into: pointers.output, ldc: pixels)
        } else {
            let rowsPerBand = max(1, Self.bandBytes / 4 / max(1, depth * outWidth))
            var row = 0
            while row < outHeight {
                let rows = min(rowsPerBand, outHeight - row)
                Im2Col.fill(input: input, channels: inputChannels, height: height, width: width, kernel: kernel,
                            stride: stride, padTop: padTop, padLeft: padLeft, outWidth: outWidth,
                            rows: row..<(row + rows), into: scratch)
                product(scratch, columns: rows * outWidth, into: output + row * outWidth, ldc: pixels)
                row += rows
            }
        }
        let (bias, activation) = (self.bias, self.activation)
        Parallel.forEachChunk(outputChannels) { range in
            for o in range {
                let plane = pointers.output + o * pixels
                let b = bias[o]
                for i in 0..<pixels { plane[i] += b }
                activation.apply(plane, count: pixels)
            }
        }
    }

    /// Scratch floats the banded column matrix needs.
    func scratchCount(outWidth: Int, outHeight: Int) -> Int {
        let rowsPerBand = max(1, Self.bandBytes / 4 / max(1, depth * outWidth))
        return depth * min(rowsPerBand, outHeight) * outWidth
    }
}

enum Im2Col {
    /// Columns for output rows `rows`: row k = (c·kh + ky)·kw + kx, column = (oy − rows.start)·outWidth + ox;
    /// positions outside the input are zero (Keras 'same' / PyTorch zero padding).
    static func fill(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, kernel: (h: Int, w: Int),
                     stride: (h: Int, w: Int), padTop: Int, padLeft: Int, outWidth: Int, rows: Range<Int>,
                     into columns: UnsafeMutablePointer<Float>) {
        let bandPixels = rows.count * outWidth
        let depth = channels * kernel.h * kernel.w
        let work = SendablePointers(input: input, output: columns)
        Parallel.forEachChunk(depth) { ks in
            for k in ks {
                let c = k / (kernel.h * kernel.w), ky = (k / kernel.w) % kernel.h, kx = k % kernel.w
                let plane = work.input + c * height * width
                var out = work.output + k * bandPixels
                for oy in rows {
                    let iy = oy * stride.h - padTop + ky
                    if iy < 0 || iy >= height {
                        out.update(repeating: 0, count: outWidth)
                    } else {
                        let line = plane + iy * width
                        for ox in 0..<outWidth {
                            let ix = ox * stride.w - padLeft + kx
                            out[ox] = ix >= 0 && ix < width ? line[ix] : 0
                        }
                    }
                    out += outWidth
                }
            }
        }
    }
}

struct SendablePointers: @unchecked Sendable {
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>
}

/// Max pooling with Keras's padding rules ('same' windows ignore positions outside the input).
struct MaxPool: Sendable {
    let pool: (h: Int, w: Int), stride: (h: Int, w: Int)
    let padTop: Int, padLeft: Int

    func run(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, outHeight: Int, outWidth: Int,
             output: UnsafeMutablePointer<Float>) {
        let p = SendablePointers(input: input, output: output)
        let (pool, stride, padTop, padLeft) = (self.pool, self.stride, self.padTop, self.padLeft)
        // VGG's 2x2 / stride 2 pools over even maps need no bounds checks.
        let simple = pool == (2, 2) && stride == (2, 2) && padTop == 0 && padLeft == 0
            && outHeight * 2 <= height && outWidth * 2 <= width
        Parallel.forEachChunk(channels) { range in
            for c in range {
                let plane = p.input + c * height * width
                let out = p.output + c * outHeight * outWidth
                for oy in 0..<outHeight {
                    if simple {
                        let top = plane + 2 * oy * width, bottom = top + width
                        for ox in 0..<outWidth {
                            out[oy * outWidth + ox] = max(max(top[2 * ox], top[2 * ox + 1]), max(bottom[2 * ox], bottom[2 * ox + 1]))
                        }
                        continue
                    }
                    let y0 = oy * stride.h - padTop
                    for ox in 0..<outWidth {
                        let x0 = ox * stride.w - padLeft
                        var best = -Float.infinity
                        for y in max(y0, 0)..<min(y0 + pool.h, height) {
                            for x in max(x0, 0)..<min(x0 + pool.w, width) { best = max(best, plane[y * width + x]) }
                        }
                        out[oy * outWidth + ox] = best
                    }
                }
            }
        }
    }
}

/// A dense layer on a batch: Y(N × units) = X(N × inputs) · Wᵀ + b, W stored (units, inputs).
struct Dense: Sendable {
    let weights: Weights
    let bias: [Float]
    let inputs: Int, units: Int
    let activation: Elementwise

    func run(input: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>) {
        if let halves = weights.halves {
            runHalves(halves, input: input, batch: batch, output: output)
        } else {
            runFloats(input: input, batch: batch, output: output)
        }
        for n in 0..<batch {
            let row = output + n * units
            for u in 0..<units { row[u] += bias[u] }
            activation.apply(row, count: units)
        }
    }

    /// Half-precision weights, each read once per chunk of up to CKERNELS_DENSE_MAX_BATCH samples.
    private func runHalves(_ halves: UnsafePointer<UInt16>, input: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>) {
        let (inputs, units) = (self.inputs, self.units)
        let p = SendablePointers(input: input, output: output), w = SendableHalves(pointer: halves)
        let chunk = Int(CKERNELS_DENSE_MAX_BATCH)
        Parallel.forEachChunk(units, minimumChunk: 16) { range in
            for first in stride(from: 0, to: batch, by: chunk) {
                CKernels_dense_small_batch_f16(p.input + first * inputs, min(chunk, batch - first), inputs, w.pointer,
                                               range.lowerBound, range.upperBound, p.output + first * units, units)
            }
        }
    }

    private func runFloats(input: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>) {
        // Split by units: each core streams its own rows of the (units × inputs) weight matrix.
        let (inputs, units) = (self.inputs, self.units)
        let p = SendablePointers(input: input, output: output), w = SendablePointers(input: weights.pointer, output: output)
        // Small batches: each weight is read once and used for every sample (sgemm would first copy the
        // whole matrix into packed panels: for fc1 that doubles the 411 MB of memory traffic).
        Parallel.forEachChunk(units, minimumChunk: 16) { range in
            if batch == 1 {  // OpenBLAS's sgemv streams W at memory speed
                return cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(range.count), Int32(inputs), 1, w.input + range.lowerBound * inputs,
                                   Int32(inputs), p.input, 1, 0, p.output + range.lowerBound, 1)
            }
            if batch <= Int(CKERNELS_DENSE_MAX_BATCH) {
                return CKernels_dense_small_batch(p.input, batch, inputs, w.input, range.lowerBound, range.upperBound, p.output, units)
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(range.count), Int32(inputs), 1, p.input,
                        Int32(inputs), w.input + range.lowerBound * inputs, Int32(inputs), 0, p.output + range.lowerBound, Int32(units))
        }
    }
}

/// Half-precision weights handed to the cores of one dense layer (read only).
private struct SendableHalves: @unchecked Sendable {
    let pointer: UnsafePointer<UInt16>
}

/// A per-channel affine map (a BatchNormalization that could not be folded), then an activation.
struct ChannelAffine: Sendable {
    let scale: [Float], shift: [Float]
    let activation: Elementwise

    func run(_ values: UnsafeMutablePointer<Float>, channels: Int, perChannel: Int) {
        for c in 0..<channels {
            let plane = values + c * perChannel
            for i in 0..<perChannel { plane[i] = plane[i] * scale[c] + shift[c] }
            activation.apply(plane, count: perChannel)
        }
    }
}

/// Row-major matrix–vector products for code outside the engine (Grad-CAM's passes through the dense
/// layers), at memory speed.
public enum MatrixVector {
    /// W·x for a (rows × columns) W and `columns` values of x; Wᵀ·x when `transposed` (x then has `rows`).
    public static func product(_ w: [Float], rows: Int, columns: Int, _ x: [Float], transposed: Bool = false) -> [Float] {
        precondition(w.count == rows * columns && x.count == (transposed ? rows : columns), "shapes checked by the caller")
        Parallel.configureBLAS
        var y = [Float](repeating: 0, count: transposed ? columns : rows)
        guard rows > 0, columns > 0 else { return y }
        cblas_sgemv(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns), 1, w, Int32(columns), x, 1, 0, &y, 1)
        return y
    }
}
