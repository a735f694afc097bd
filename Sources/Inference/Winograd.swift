import CBLAS
import CKernels
import Foundation

/// A 3×3, stride-1, 'same' convolution by Winograd F(4×4, 3×3): 36 matrix products of
/// (K × C)·(C × tiles) instead of one (K × 9C)·(9C × pixels) — 4× fewer multiplications on the layers
/// that are ~99% of VGG's work. Weights are transformed once, at load; tiles are processed in blocks
/// sized to stay in cache; bias and ReLU are applied in the output transform.
struct WinogradConvolution: @unchecked Sendable {
    let transformed: UnsafeMutablePointer<Float>  // 36 × K × C, owned for the engine's lifetime
    let bias: [Float]
    let inputChannels: Int, outputChannels: Int
    let activation: Activation

    init(weights: UnsafePointer<Float>, bias: [Float], inputChannels: Int, outputChannels: Int, activation: Activation) {
        transformed = .allocate(capacity: 36 * outputChannels * inputChannels)
        CKernels_winograd43_weights(weights, outputChannels, inputChannels, transformed)
        self.bias = bias
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.activation = activation
    }

    /// Tiles per block: V and M for a block take about 16 MB (fewer, larger GEMMs; measured best).
    func tilesPerBlock(height: Int, width: Int) -> Int {
        let tiles = ((height + 3) / 4) * ((width + 3) / 4)
        return max(1, min(tiles, (16 << 20) / (36 * (inputChannels + outputChannels) * 4)))
    }

    /// Scratch floats for V and M of one block.
    func scratchCount(height: Int, width: Int) -> Int {
        36 * (inputChannels + outputChannels) * tilesPerBlock(height: height, width: width)
    }

    func run(input: UnsafePointer<Float>, height: Int, width: Int, output: UnsafeMutablePointer<Float>,
             scratch: UnsafeMutablePointer<Float>) {
        let tiles = ((height + 3) / 4) * ((width + 3) / 4)
        let block = tilesPerBlock(height: height, width: width)
        let (C, K) = (inputChannels, outputChannels)
        let v = scratch, m = scratch + 36 * C * block
        let shared = SharedState(input: input, output: output, v: v, m: m, u: transformed)
        let relu: Int32 = activation == .relu ? 1 : 0
        let bias = self.bias
        var first = 0
        while first < tiles {
            let count = min(block, tiles - first)
            let start = first
            Parallel.forEachChunk(C) { channels in
                CKernels_winograd43_input(shared.input, C, height, width, start, count, channels.lowerBound, channels.upperBound, shared.v)
            }
            Parallel.forEachChunk(36) { coordinates in
                for xi in coordinates {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(K), Int32(count), Int32(C), 1,
                                shared.u + xi * K * C, Int32(C), shared.v + xi * C * count, Int32(count), 0,
                                shared.m + xi * K * count, Int32(count))
                }
            }
            Parallel.forEachChunk(K) { channels in
                bias.withUnsafeBufferPointer { b in
                    CKernels_winograd43_output(shared.m, K, height, width, start, count, channels.lowerBound, channels.upperBound,
                                               b.baseAddress, relu, shared.output)
                }
            }
            first += count
        }
        if activation != .relu && activation != .linear { activation.apply(output, count: K * height * width) }
    }

    private struct SharedState: @unchecked Sendable {
        let input: UnsafePointer<Float>
        let output: UnsafeMutablePointer<Float>
        let v: UnsafeMutablePointer<Float>
        let m: UnsafeMutablePointer<Float>
        let u: UnsafeMutablePointer<Float>
    }
}
