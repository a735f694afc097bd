import Foundation
import TestSupport
import XCTest

/// `vggconv diff` on pairs written by the real frameworks (samples/generate_slips.py): each slip file
/// differs from its base by one mistake real converters make, and diff must name exactly that mistake
/// at exactly that tensor; twins written by different frameworks are identical.
final class DiffTests: XCTestCase {
    struct Case: Decodable {
        var file: String, base: String, tensor: String?, slip: String
    }

    func testEverySlipIsNamedAtItsTensor() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Samples.path("slips/manifest.json")))
        let cases = try JSONDecoder().decode([Case].self, from: data)
        XCTAssertEqual(cases.count, 8)
        for c in cases {
            let result = try vggconv("diff", Samples.path(c.base), Samples.path(c.file), "--json")
            XCTAssertEqual(result.status, 1, "\(c.file): \(result.stderr)")
            let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], c.file)
            let tensors = report["tensors"] as? [[String: Any]] ?? []
            let different = tensors.filter { $0["equal"] as? Bool == false }
            if let tensor = c.tensor {
                let named = try XCTUnwrap(different.first { $0["name"] as? String == tensor }, "\(c.file): \(tensor) not reported")
                XCTAssertTrue((named["slip"] as? String ?? "").contains(c.slip), "\(c.file): \(named)")
                // Every differing tensor has a slip named (no "unknown" differences in these pairs).
                XCTAssertTrue(different.allSatisfy { $0["slip"] is String }, "\(c.file): \(different)")
            } else {
                XCTAssertTrue(different.isEmpty, "\(c.file): \(different)")
                let architecture = report["architecture"] as? [String] ?? []
                XCTAssertFalse(architecture.isEmpty)
                XCTAssertTrue(architecture.allSatisfy { $0.contains(c.slip) }, "\(c.file): \(architecture)")
            }
        }
    }

    func testTwinsAcrossFrameworksAreIdentical() throws {
        for (a, b) in [("vgg_small_tfkeras_model.h5", "vgg_small.pth"), ("vgg_bn_keras3.keras", "vgg_bn.pth"),
                       ("vgg_dropout_tfkeras_model.h5", "vgg_dropout_keras3.keras"), ("vgg_small.pth", "torch/vgg_small_legacy.pth")] {
            let result = try vggconv("diff", Samples.path(a), Samples.path(b))
            XCTAssertEqual(result.status, 0, "\(a) vs \(b): \(result.stdout)")
            XCTAssertTrue(result.stdout.hasSuffix("IDENTICAL\n"), result.stdout)
        }
        // The one-sided final softmax is reported as a note, not as a difference.
        let keras = try vggconv("diff", Samples.path("vgg_small_tfkeras_model.h5"), Samples.path("vgg_small.pth"))
        XCTAssertTrue(keras.stdout.contains("note: A ends in softmax and B in logits"), keras.stdout)
    }

    /// Identical tensors are confirmed by a position hash of each side in its own storage order (no
    /// transpose): one flipped low bit or two swapped values in any tensor must still be found, against
    /// a Keras file whose kernels are stored transposed, with the AVX2 and the portable hash alike.
    func testTheHashOfIdenticalTensorsMissesNoChange() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let keras = Samples.path("vgg_small_tfkeras_model.h5"), twin = scratch.file("twin.safetensors")
        XCTAssertEqual(try vggconv("convert", Samples.path("vgg_small.pth"), "-o", twin).status, 0)
        for simd in ["avx2-if-present", "generic"] {
            let same = try runProcess("/usr/bin/env", ["VGGCONV_SIMD=\(simd)", vggconvExecutable, "diff", keras, twin])
            XCTAssertEqual(same.status, 0, "\(simd): \(same.stdout)")
        }
        // The safetensors data section (no checksums), and each tensor's byte range in it.
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: twin)))
        let headerLength = original[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(original[8..<(8 + headerLength)])) as? [String: Any])
        // Keys as nn.Sequential names them; the report uses canonical names.
        for (key, name) in [("0.weight", "block1_conv1.weight"), ("27.weight", "fc1.weight"), ("27.bias", "fc1.bias")] {
            let entry = try XCTUnwrap(header[key] as? [String: Any], key)
            let range = try XCTUnwrap(entry["data_offsets"] as? [Int], name)
            let start = 8 + headerLength + range[0], floats = (range[1] - range[0]) / 4
            var flipped = original
            flipped[start + 4 * (floats / 2)] ^= 1  // the lowest mantissa bit of one value
            var swapped = original
            let (p, q) = (start + 4 * (floats / 3), start + 4 * (floats / 3 + 1))
            for k in 0..<4 { swapped.swapAt(p + k, q + k) }
            for (label, bytes) in [("one bit flipped", flipped), ("two values swapped", swapped)] {
                if bytes == original { continue }  // two equal neighbours: nothing swapped
                let path = scratch.file("changed.safetensors")
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                for simd in ["avx2-if-present", "generic"] {
                    let result = try runProcess("/usr/bin/env", ["VGGCONV_SIMD=\(simd)", vggconvExecutable, "diff", keras, path, "--json"])
                    XCTAssertEqual(result.status, 1, "\(name), \(label), \(simd): \(result.stdout)")
                    let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
                    let different = (report["tensors"] as? [[String: Any]] ?? []).filter { $0["equal"] as? Bool == false }
                    XCTAssertEqual(different.compactMap { $0["name"] as? String }, [name], "\(label), \(simd)")
                }
            }
        }
    }

    func testToleranceAndBadInput() throws {
        // float16 rounding is within 1e-3 of each tensor's range.
        let half = try vggconv("diff", Samples.path("vgg_small.pth"), Samples.path("slips/vgg_small_half.pth"), "--rtol", "1e-3")
        XCTAssertEqual(half.status, 0, half.stdout)
        let missing = try vggconv("diff", Samples.path("vgg_small.pth"), "/nonexistent.pth")
        XCTAssertEqual(missing.status, 2)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
        let negative = try vggconv("diff", Samples.path("vgg_small.pth"), Samples.path("vgg_small.pth"), "--atol", "-1")
        XCTAssertEqual(negative.status, 2)
    }
}
