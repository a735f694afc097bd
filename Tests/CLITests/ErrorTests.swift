import Foundation
import TestSupport
import XCTest

/// Each bad input gets its own specific message on stderr, exit status 2, and no output file.
final class ErrorTests: XCTestCase {
    /// `--help` (which ArgumentParser runs as a command that throws its text) prints usage and succeeds.
    func testHelpPrintsUsageForEveryCommand() throws {
        for command in ["", "convert", "diff", "verify", "predict", "features", "filters", "gradcam"] {
            let result = try runProcess(vggconvExecutable, (command.isEmpty ? [] : [command]) + ["--help"])
            XCTAssertEqual(result.status, 0, "\(command) --help: \(result.stderr)")
            XCTAssertTrue(result.stdout.contains("USAGE: vggconv"), "\(command) --help: \(result.stdout)")
        }
    }

    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    /// Runs `keras2native INPUT -o scratch/out.vggw` and checks status 2, the message and a clean directory.
    private func assertRefused(_ input: String, extra: [String] = [], message: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let before = Set(scratch.contents())
        let result = try runProcess(vggconvExecutable,
                                    ["keras2native", input, "-o", scratch.file("out.vggw")] + extra)
        XCTAssertEqual(result.status, 2, result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "stderr was: \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one line: \(result.stderr)", file: file, line: line)
        XCTAssertEqual(Set(scratch.contents()), before, "no output or temporary file left", file: file, line: line)
    }

    /// A functional config whose wiring is not the listed chain (a cycle, a layer fed from further back)
    /// is refused naming the layer: it used to be read in list order, as a different network.
    func testFunctionalWiringThatIsNotTheListedChainIsRefused() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        func edited(_ sample: String, _ edit: (inout [[String: Any]]) -> Void) throws -> String {
            var root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Samples.path(sample)))) as? [String: Any])
            var config = try XCTUnwrap(root["config"] as? [String: Any])
            var layers = try XCTUnwrap(config["layers"] as? [[String: Any]])
            edit(&layers)
            config["layers"] = layers
            root["config"] = config
            let path = scratch.file("edited-\(scratch.contents().count).json")
            try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
            return path
        }
        // tf-keras wiring: block1_conv1 fed by block1_conv2, which is fed by block1_conv1 (a cycle).
        let cycle = try edited("vgg16_tfkeras_config.json") { layers in layers[1]["inbound_nodes"] = [[["block1_conv2", 0, 0, [String: Any]()]]] }
        // Keras 3 wiring: the pooling head reads the input image, skipping the nested base.
        let skip = try edited("transfer/tl_gap_keras3_config.json") { layers in
            layers[2]["inbound_nodes"] = [["args": [["class_name": "__keras_tensor__", "config": ["keras_history": ["image", 0, 0]]]], "kwargs": [String: Any]()]]
        }
        for (path, message) in [(cycle, "layer block1_conv1 takes its input from block1_conv2"),
                                (skip, "layer gap takes its input from image, not from the layer listed before it (vgg_base)")] {
            let result = try vggconv("summary", path)
            XCTAssertEqual(result.status, 2, result.stdout)
            XCTAssertTrue(result.stderr.contains(message) && result.stderr.contains("one chain"), result.stderr)
        }
        // The unedited configs read.
        XCTAssertEqual(try vggconv("summary", Samples.path("vgg16_tfkeras_config.json")).status, 0)
        XCTAssertEqual(try vggconv("summary", Samples.path("transfer/tl_gap_keras3_config.json")).status, 0)
    }

    /// Library errors name the cause (`Remedy`), the CLI names the flag that fixes it.
    func testTheCLINamesTheFlagForARemedy() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let result = try vggconv("keras2native", Samples.path("vgg_small_keras3.weights.h5"), "-o", scratch.file("x.vggw"))
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("give the model's architecture JSON"), result.stderr)
        XCTAssertTrue(result.stderr.contains("; pass it with --config MODEL.json, or --arch vgg16"), result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
    }

    func testMissingFile() throws {
        try assertRefused(scratch.file("nope.h5"), message: "nope.h5: no such file")
    }

    func testDirectoryIsNotAFile() throws {
        try assertRefused(Samples.directory, message: "is not a regular file")
    }

    /// What Keras 3's `model.save(folder, zipped=False)` writes (config.json, model.weights.h5,
    /// metadata.json) reads as the folder itself: the same model as its two files.
    func testKerasModelFolderReadsAsTheModel() throws {
        let folder = scratch.file("unzipped_model")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: Samples.path("vgg_small_keras3.weights.h5"), toPath: folder + "/model.weights.h5")
        try FileManager.default.copyItem(atPath: Samples.path("vgg_small_keras3_config.json"), toPath: folder + "/config.json")
        let fromFolder = scratch.file("from_folder.vggw"), fromFiles = scratch.file("from_files.vggw")
        XCTAssertEqual(try vggconv("keras2native", folder + "/", "-o", fromFolder).status, 0)
        XCTAssertEqual(try vggconv("keras2native", folder + "/model.weights.h5", "--config", folder + "/config.json", "-o", fromFiles).status, 0)
        XCTAssertEqual(try vggconv("diff", fromFolder, fromFiles).status, 0)
        let summary = try vggconv("summary", folder)
        XCTAssertEqual(summary.status, 0, summary.stderr)
        XCTAssertEqual(summary.stdout, try String(contentsOfFile: Samples.path("summaries/vgg_small_keras3.txt"), encoding: .utf8))
        XCTAssertEqual(try vggconv("inspect", folder).status, 0)
    }

    /// The index `save_weights(path, max_shard_size=…)` writes beside its shards (Keras 3.15:
    /// `metadata` and a `weight_map` from variable paths to shard files) is not a model config.
    func testShardedWeightsIndexIsNamed() throws {
        let index = scratch.file("model.weights.json")
        try Data(#"{"metadata": {"total_size": 125096.0}, "weight_map": {"/layers/conv2d/vars": ["model_00000.weights.h5"]}}"#.utf8)
            .write(to: URL(fileURLWithPath: index))
        try assertRefused(Samples.path("vgg_small_keras3.weights.h5"), extra: ["--config", index],
                          message: "the index of sharded Keras weights (save_weights with max_shard_size)")
    }

    func testNotHDF5() throws {
        let path = scratch.file("notes.h5")
        try Data("these are not weights\n".utf8).write(to: URL(fileURLWithPath: path))
        try assertRefused(path, message: "expected a Keras .h5, .weights.h5 or .keras file")
    }

    func testTruncatedHDF5() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: Samples.path("vgg_small_tfkeras_model.h5")))
        let path = scratch.file("truncated.h5")
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: path))
        try assertRefused(path, message: "truncated or corrupt")
    }

    func testUnsupportedLayer() throws {
        try assertRefused(Samples.path("unsupported_avgpool_tfkeras_model.h5"),
                          message: "unsupported layer block1_avgpool (type AveragePooling2D) at position 2")
    }

    func testWeightWithUnexpectedShape() throws {
        // A real Keras config, edited so its first convolution claims 12 filters where the file has 8.
        var config = try String(contentsOfFile: Samples.path("vgg_small_tfkeras_config.json"), encoding: .utf8)
        let range = try XCTUnwrap(config.range(of: "\"filters\": 8"))
        config.replaceSubrange(range, with: "\"filters\": 12")
        let path = scratch.file("edited.json")
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        try assertRefused(Samples.path("vgg_small_tfkeras_weights.h5"), extra: ["--config", path],
                          message: "weight block1_conv1/block1_conv1/kernel:0 of layer block1_conv1 has shape [3, 3, 3, 8] but the architecture needs [3, 3, 3, 12]")
    }

    func testExistingOutputNeedsForce() throws {
        let output = scratch.file("out.vggw")
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: output))
        try assertRefused(Samples.path("vgg_small_tfkeras_model.h5"), message: "out.vggw already exists; pass --force")
        XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8), "keep me")
        let forced = try vggconv("keras2native", Samples.path("vgg_small_tfkeras_model.h5"), "-o", output, "--force")
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(Set(scratch.contents()), ["out.vggw"])
    }

    func testUnwritableOutputDirectory() throws {
        let result = try vggconv("keras2native", Samples.path("vgg_small_tfkeras_model.h5"), "-o", scratch.file("missing/dir/out.vggw"))
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("missing/dir: cannot create the output file in this directory: No such file or directory"),
                      result.stderr)
        XCTAssertEqual(scratch.contents(), [])
    }

    func testPyTorchFileGivenToKeras2Native() throws {
        try assertRefused(Samples.path("vgg_small.pth"), message: "a PyTorch file (use torch2native)")
    }

    func testUsageErrorExitsTwo() throws {
        let result = try vggconv("keras2native")
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("Missing expected argument"), result.stderr)
    }
}
