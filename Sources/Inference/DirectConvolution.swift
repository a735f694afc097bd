import CKernels

/// A 3×3, stride-1, 'same' convolution computed directly, for layers with few input channels (VGG's
/// first layer, C = 3): there a GEMM has only 27-deep products and Winograd's transforms cost more than
/// they save. Weights are packed once at load; bias and ReLU are applied as each output row is written.
struct DirectConvolution: @unchecked Sendable {
    /// Packed weights, freed with the last copy of this step (also when compilation fails after it).
    private let storage: PackedFloats
    var packed: UnsafeMutablePointer<Float> { storage.pointer }
    let bias: [Float]
    let inputChannels: Int, outputChannels: Int
    let activation: Elementwise

    /// Input channels below which this beats Winograd on VGG's layer shapes.
    static let maximumInputChannels = 7

    init(weights: UnsafePointer<Float>, bias: [Float], inputChannels: Int, outputChannels: Int, activation: Elementwise) {
        storage = PackedFloats(count: CKernels_conv3x3_packed_count(outputChannels, inputChannels))
        CKernels_conv3x3_pack(weights, outputChannels, inputChannels, storage.pointer)
        self.bias = bias
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.activation = activation
    }

    /// Scratch floats: the zero-bordered copy of the input.
    func scratchCount(height: Int, width: Int) -> Int { CKernels_conv3x3_padded_count(inputChannels, height, width) }

    func run(input: UnsafePointer<Float>, height: Int, width: Int, output: UnsafeMutablePointer<Float>,
             scratch: UnsafeMutablePointer<Float>) {
        CKernels_conv3x3_pad(input, inputChannels, height, width, scratch)
        let shared = SendablePointers(input: UnsafePointer(scratch), output: output)
        let (C, K, weights) = (inputChannels, outputChannels, SendablePointers(input: packed, output: output))
        let relu: Int32 = activation == .relu ? 1 : 0
        let bias = self.bias
        Parallel.forEachChunk(height) { rows in
            bias.withUnsafeBufferPointer { b in
                CKernels_conv3x3_rows(shared.input, C, height, width, weights.input, K, b.baseAddress, relu,
                                      rows.lowerBound, rows.upperBound, shared.output)
            }
        }
        if activation != .relu && activation != .linear { activation.apply(output, count: K * height * width) }
    }
}

/// Floats a step packs or transforms at load. A class so the memory is freed with the last step that
/// holds it, whether the engine is released or its compilation throws halfway (a leak the fuzzer found).
final class PackedFloats: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(count: Int) { pointer = .allocate(capacity: max(count, 1)) }
    deinit { pointer.deallocate() }
}
