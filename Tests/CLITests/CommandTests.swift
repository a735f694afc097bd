import Foundation
import TestSupport
import XCTest

/// The commands' happy paths, through the built binary.
final class CommandTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    func testDefaultOutputNameReplacesTheExtension() throws {
        let input = scratch.file("model.weights.h5")
        try FileManager.default.copyItem(atPath: Samples.path("vgg_small_keras3.weights.h5"), toPath: input)
        let result = try vggconv("keras2native", input, "--config", Samples.path("vgg_small_keras3_config.json"))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(Set(scratch.contents()), ["model.weights.h5", "model.vggw"])
        XCTAssertTrue(result.stdout.contains("28 tensors"), result.stdout)
    }

    /// The conversions, summary and diff take --threads like the image commands: one thread writes the
    /// same file as every core, and a count out of range is refused before any work; a malformed
    /// VGGCONV_THREADS or VGGCONV_SIMD is named on stderr.
    func testThreadsOptionOnConversionsSummaryAndDiff() throws {
        let source = Samples.path("vgg_small_tfkeras_model.h5")
        let (one, all) = (scratch.file("one.vggw"), scratch.file("all.vggw"))
        XCTAssertEqual(try vggconv("keras2native", source, "-o", one, "--threads", "1").status, 0)
        XCTAssertEqual(try vggconv("keras2native", source, "-o", all).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: one)), try Data(contentsOf: URL(fileURLWithPath: all)))
        let torch = scratch.file("torch.vggw")
        XCTAssertEqual(try vggconv("torch2native", Samples.path("vgg_small.pth"), "-o", torch, "--threads", "2").status, 0)
        let diff = try vggconv("diff", one, torch, "--threads", "1")
        XCTAssertEqual(diff.status, 0, diff.stdout + diff.stderr)
        XCTAssertEqual(try vggconv("summary", one, "--threads", "1").status, 0)
        // A setting vggconv cannot use is named, not silently dropped, and --threads still applies.
        let typo = try runProcess("/usr/bin/env", ["VGGCONV_THREADS=all", "VGGCONV_SIMD=avx-512", vggconvExecutable, "bench",
                                                   try nativeSample(), "--iterations", "1", "--threads", "1", "--json"])
        XCTAssertEqual(typo.status, 0, typo.stderr)
        XCTAssertTrue(typo.stderr.contains("note: VGGCONV_THREADS=all ignored"), typo.stderr)
        XCTAssertTrue(typo.stderr.contains("note: VGGCONV_SIMD=avx-512 ignored"), typo.stderr)
        XCTAssertTrue(typo.stdout.contains("\"threads\" : 1"), typo.stdout)
        for command in ["keras2native", "summary"] {
            let refused = try vggconv(command, source, "--threads", "0")
            XCTAssertEqual(refused.status, 2, command + ": " + refused.stderr)
            XCTAssertTrue(refused.stderr.contains("--threads must be 1 to"), refused.stderr)
        }
    }

    /// A native copy of the small sample model, in the scratch directory.
    private func nativeSample() throws -> String {
        let path = scratch.file("sample.vggw")
        if !FileManager.default.fileExists(atPath: path) {
            XCTAssertEqual(try vggconv("torch2native", Samples.path("vgg_small.pth"), "-o", path).status, 0)
        }
        return path
    }

    func testInspectJSONListsEveryTensorWithTheContractKeys() throws {
        let output = scratch.file("m.vggw")
        XCTAssertEqual(try vggconv("keras2native", Samples.path("vgg_bn_keras3.keras"), "-o", output).status, 0)
        let result = try vggconv("inspect", output, "--json")
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let tensors = try XCTUnwrap(object["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.count, Samples.models["vgg_bn"]?.tensors.count)
        for tensor in tensors {
            for key in ["name", "source_name", "dtype", "shape", "layout", "offset", "nbytes", "crc32"] {
                XCTAssertNotNil(tensor[key], "\(key) in \(tensor)")
            }
            XCTAssertEqual((tensor["offset"] as? Int).map { $0 % 64 }, 0)
        }
        let mean = try XCTUnwrap(tensors.first { $0["name"] as? String == "block2_conv1_bn.running_mean" })
        XCTAssertEqual(mean["source_name"] as? String, "layers/batch_normalization_1/vars/2")
        XCTAssertEqual(mean["shape"] as? [Int], [16])
    }

    func testInspectTableOfASourceFile() throws {
        let result = try vggconv("inspect", Samples.path("vgg_small_keras1_style.h5"))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("keras1-weights-h5"), result.stdout)
        XCTAssertTrue(result.stdout.contains("block1_conv1.weight  float32  (3, 3, 3, 8)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("block1_conv1/block1_conv1_W_1:0"), result.stdout)
    }

    func testCorruptedNativeFileIsRefused() throws {
        let output = scratch.file("m.vggw")
        XCTAssertEqual(try vggconv("keras2native", Samples.path("vgg_small_keras3.keras"), "-o", output).status, 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: output))
        bytes[bytes.count - 3] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: output))
        let result = try vggconv("inspect", output)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("fails its checksum"), result.stderr)
    }
}
