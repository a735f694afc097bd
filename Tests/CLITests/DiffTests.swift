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
