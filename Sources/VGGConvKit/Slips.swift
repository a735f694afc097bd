import VGGCore

/// The known ways a Keras↔PyTorch conversion goes wrong while every shape still fits, each as the
/// transformation that would turn one side's tensor into the other's. `diff` tries them on a tensor that
/// differs and names the first that makes the two equal.
enum Slips {
    /// Where a tensor sits, for the slips that only apply to some tensors.
    struct Context {
        var shape: [Int]
        var layerType: LayerType
        var role: ParameterRole
        /// (C, H·W) of the map a Flatten before this (first) Dense flattened.
        var flattened: (channels: Int, positions: Int)?
    }

    /// The slip that turns `a` into `b` under `matches`, in words; nil when none does.
    static func name(_ a: [Float], _ b: [Float], context: Context, matches: ([Float], [Float]) -> Bool,
                     scaled: ([Float], [Float]) -> Bool) -> String? {
        let shape = context.shape
        if let map = context.flattened, shape.count == 2, context.role == .kernel {
            if matches(reorderColumns(a, shape, map, fromHWC: true), b) || matches(reorderColumns(a, shape, map, fromHWC: false), b) {
                return "input rows in H,W,C vs C,H,W order: the Flatten permutation of the first Dense after Flatten (\(map.channels) channels x \(map.positions) positions) applied on one side only"
            }
        }
        if shape.count == 4, context.role == .kernel {
            if shape[2] * shape[3] > 1, matches(rotated(a, shape), b) {
                return "kernels rotated 180 degrees: convolution vs correlation (Theano/Caffe-era weights used without flipping)"
            }
            if shape[1] > 1, matches(reversedInputs(a, shape), b) {
                return "input channels reversed\(shape[1] == 3 ? " (BGR vs RGB)" : ""): the first convolution's \(shape[1]) input channels in the other order"
            }
        }
        for permutation in permutations(shape.count) where permutation != Array(0..<shape.count) && permutation.map({ shape[$0] }) == shape {
            if matches(permute(a, shape, permutation), b) {
                return shape.count == 2 ? "transposed: a dense kernel stored (in, out) where (out, in) was expected, or the reverse"
                    : "axes permuted \(permutation) (e.g. HWIO read as OIHW): a kernel left in the other framework's layout"
            }
        }
        for (dtype, round) in [("float16", roundToHalf), ("bfloat16", roundToBFloat)] {
            // One side holds only values of that type, and is exactly the other side rounded to it.
            if (b.map(round) == b && a.map(round) == b) || (a.map(round) == a && b.map(round) == a) {
                return "one side is the other rounded to \(dtype)"
            }
        }
        if scaled(a, b) { return "scaled by a constant factor \(String(format: "%.6g", scale(a, b)))" }
        return nil
    }

    /// The least-squares factor s with b ≈ s·a.
    static func scale(_ a: [Float], _ b: [Float]) -> Double {
        var (ab, aa) = (0.0, 0.0)
        for i in a.indices { ab += Double(a[i]) * Double(b[i]); aa += Double(a[i]) * Double(a[i]) }
        return aa > 0 ? ab / aa : 1
    }

    static func reorderColumns(_ w: [Float], _ shape: [Int], _ map: (channels: Int, positions: Int), fromHWC: Bool) -> [Float] {
        let (units, inputs) = (shape[0], shape[1])
        guard map.channels * map.positions == inputs else { return w }
        var out = w
        for o in 0..<units {
            for c in 0..<map.channels {
                for p in 0..<map.positions {
                    let (chw, hwc) = (o * inputs + c * map.positions + p, o * inputs + p * map.channels + c)
                    if fromHWC { out[chw] = w[hwc] } else { out[hwc] = w[chw] }
                }
            }
        }
        return out
    }

    static func rotated(_ w: [Float], _ s: [Int]) -> [Float] {
        var out = w
        let plane = s[2] * s[3]
        for block in 0..<(s[0] * s[1]) {
            for i in 0..<plane { out[block * plane + i] = w[block * plane + plane - 1 - i] }
        }
        return out
    }

    static func reversedInputs(_ w: [Float], _ s: [Int]) -> [Float] {
        var out = w
        let plane = s[2] * s[3]
        for o in 0..<s[0] {
            for i in 0..<s[1] {
                let (to, from) = ((o * s[1] + i) * plane, (o * s[1] + s[1] - 1 - i) * plane)
                out.replaceSubrange(to..<(to + plane), with: w[from..<(from + plane)])
            }
        }
        return out
    }

    /// `out[index permuted] = w[index]`: the tensor with its axes reordered so that output axis k is input
    /// axis `permutation[k]` (shapes equal, as only shape-preserving permutations are tried).
    static func permute(_ w: [Float], _ shape: [Int], _ permutation: [Int]) -> [Float] {
        let rank = shape.count
        var strides = [Int](repeating: 1, count: rank)
        for k in stride(from: rank - 2, through: 0, by: -1) { strides[k] = strides[k + 1] * shape[k + 1] }
        var out = w
        var index = [Int](repeating: 0, count: rank)
        for flat in 0..<w.count {
            var source = 0
            for k in 0..<rank { source += index[k] * strides[permutation[k]] }
            out[flat] = w[source]
            var k = rank - 1
            while k >= 0 {
                index[k] += 1
                if index[k] < shape[k] { break }
                index[k] = 0
                k -= 1
            }
        }
        return out
    }

    static func permutations(_ n: Int) -> [[Int]] {
        guard n > 1 else { return [Array(0..<n)] }
        return permutations(n - 1).flatMap { smaller in (0...smaller.count).map { position in
            var p = smaller
            p.insert(n - 1, at: position)
            return p
        } }
    }

    static func roundToHalf(_ x: Float) -> Float { Float(Float16(x)) }

    static func roundToBFloat(_ x: Float) -> Float {
        let bits = x.bitPattern
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)  // round to nearest even, as PyTorch does
        return Float(bitPattern: rounded & 0xFFFF_0000)
    }
}
