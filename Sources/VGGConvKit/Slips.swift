import FileIO
import VGGCore

/// The known ways a Keras↔PyTorch conversion goes wrong while every shape still fits, each as a map from
/// one side's values to the other's. `diff` tries them on a tensor that differs — first on a sample of
/// positions, then on every value for a candidate that fits the sample — and names the first that makes
/// the two equal. Values are read in place through `CanonicalValues.withValues`: nothing is copied.
enum Slips {
    /// Where a tensor sits, for the slips that only apply to some tensors.
    struct Context {
        var shape: [Int]
        var layerType: LayerType
        var role: ParameterRole
        /// (C, H·W) of the map a Flatten before this (first) Dense flattened.
        var flattened: (channels: Int, positions: Int)?
    }

    /// A slip: `matches(a[source(i)], b[i])` for every i.
    private struct Candidate {
        var name: String
        var source: (Int) -> Int = { $0 }
        var matches: (Float, Float) -> Bool
    }

    /// The slip that turns A's values into B's within `limit`, in words; nil when none does.
    /// `scale` is the least-squares factor s with b ≈ s·a (from the streamed sums).
    static func name(_ a: CanonicalValues, _ b: CanonicalValues, context: Context, limit: Float, scale: Double) -> String? {
        let candidates = self.candidates(context, limit: limit, scale: scale)
        let count = a.count
        let sample = (0..<min(count, 4_096)).map { $0 * (count / min(count, 4_096)) + ($0 * 7919) % max(1, count / min(count, 4_096)) }
        return a.withValues { x in
            b.withValues { y in
                for candidate in candidates {
                    func fits(_ i: Int) -> Bool { candidate.matches(x(candidate.source(i)), y(i)) }
                    if sample.allSatisfy(fits), (0..<count).allSatisfy(fits) { return candidate.name }
                }
                return nil
            }
        }
    }

    private static func candidates(_ context: Context, limit: Float, scale: Double) -> [Candidate] {
        let shape = context.shape
        var list: [Candidate] = []
        let within = { (p: Float, q: Float) in abs(p - q) <= limit }
        if let map = context.flattened, shape.count == 2, context.role == .kernel, map.channels * map.positions == shape[1] {
            let (inputs, channels, positions) = (shape[1], map.channels, map.positions)
            let name = "input rows in H,W,C vs C,H,W order: the Flatten permutation of the first Dense after Flatten (\(channels) channels x \(positions) positions) applied on one side only"
            list.append(Candidate(name: name, source: { k in  // B in C,H,W order, A in H,W,C
                let (o, j) = k.quotientAndRemainder(dividingBy: inputs), (c, p) = j.quotientAndRemainder(dividingBy: positions)
                return o * inputs + p * channels + c
            }, matches: within))
            list.append(Candidate(name: name, source: { k in  // B in H,W,C order, A in C,H,W
                let (o, j) = k.quotientAndRemainder(dividingBy: inputs), (p, c) = j.quotientAndRemainder(dividingBy: channels)
                return o * inputs + c * positions + p
            }, matches: within))
        }
        if shape.count == 4, context.role == .kernel {
            let plane = shape[2] * shape[3], inputs = shape[1]
            if plane > 1 {
                list.append(Candidate(name: "kernels rotated 180 degrees: convolution vs correlation (Theano/Caffe-era weights used without flipping)",
                                      source: { k in k - k % plane + plane - 1 - k % plane }, matches: within))
            }
            if inputs > 1 {
                list.append(Candidate(name: "input channels reversed\(inputs == 3 ? " (BGR vs RGB)" : ""): the convolution's \(inputs) input channels in the other order",
                                      source: { k in
                                          let (outer, inPlane) = k.quotientAndRemainder(dividingBy: plane)
                                          let (o, i) = outer.quotientAndRemainder(dividingBy: inputs)
                                          return (o * inputs + inputs - 1 - i) * plane + inPlane
                                      }, matches: within))
            }
        }
        for permutation in permutations(shape.count) where permutation != Array(0..<shape.count) && permutation.map({ shape[$0] }) == shape {
            let name = shape.count == 2 ? "transposed: a dense kernel stored (in, out) where (out, in) was expected, or the reverse"
                : "axes permuted \(permutation) (e.g. HWIO read as OIHW): a kernel left in the other framework's layout"
            list.append(Candidate(name: name, source: permutedIndex(shape, permutation), matches: within))
        }
        // One side holds only values of the narrower type and is exactly the other side rounded to it.
        for (dtype, round) in [("float16", roundToHalf), ("bfloat16", roundToBFloat)] as [(String, (Float) -> Float)] {
            list.append(Candidate(name: "B is A rounded to \(dtype)", matches: { a, b in round(b) == b && round(a) == b }))
            list.append(Candidate(name: "A is B rounded to \(dtype)", matches: { a, b in round(a) == a && round(b) == a }))
        }
        if abs(scale - 1) > 1e-6, scale.isFinite {
            let factor = Float(scale), slack = max(limit, 1e-6 * max(1, abs(factor)))
            list.append(Candidate(name: "scaled by a constant factor \(String(format: "%.6g", scale))",
                                  matches: { a, b in abs(a * factor - b) <= slack * max(1, abs(b)) }))
        }
        return list
    }

    /// For B = A with its axes reordered (output axis k is A's axis `permutation[k]`), the A index of B's `k`.
    private static func permutedIndex(_ shape: [Int], _ permutation: [Int]) -> (Int) -> Int {
        let rank = shape.count
        var strides = [Int](repeating: 1, count: rank)
        for k in stride(from: rank - 2, through: 0, by: -1) { strides[k] = strides[k + 1] * shape[k + 1] }
        return { flat in
            var (rest, source) = (flat, 0)
            for k in stride(from: rank - 1, through: 0, by: -1) {
                let (quotient, index) = rest.quotientAndRemainder(dividingBy: shape[k])
                source += index * strides[permutation[k]]
                rest = quotient
            }
            return source
        }
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
