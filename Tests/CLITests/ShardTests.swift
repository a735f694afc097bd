import Foundation
import TestSupport
import XCTest

/// `--shard K/N` and `merge`: the parts of a sharded run put back together are byte-identical to one
/// process's output; parts that do not belong together are refused by name.
final class ShardTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    private func data(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func testFeatureShardsMergeToOneProcessesArray() throws {
        let model = Samples.path("vgg_small.pth"), images = Samples.path("images")
        XCTAssertEqual(try vggconv("features", model, images, "-o", scratch.file("all.npy")).status, 0)
        // More shards than some slices have images: empty and one-image parts merge as well.
        for count in [3, 8] {
            var parts: [String] = []
            for index in (0..<count).reversed() {
                let part = scratch.file("part-\(count)-\(index).npy")
                let result = try vggconv("features", model, images, "--shard", "\(index)/\(count)", "-o", part)
                XCTAssertEqual(result.status, 0, result.stderr)
                XCTAssertTrue(FileManager.default.fileExists(atPath: part + ".part.json"))
                parts.append(part)
            }
            let merged = scratch.file("merged-\(count).npy")
            let merge = try runProcess(vggconvExecutable, ["merge"] + parts + ["-o", merged])
            XCTAssertEqual(merge.status, 0, merge.stderr)
            XCTAssertEqual(try data(merged), try data(scratch.file("all.npy")), "\(count) shards")
        }
    }

    func testPredictAndEvaluatePartsMergeToOneProcessesJSON() throws {
        let model = Samples.path("vgg_small.pth")
        let whole = try vggconv("predict", model, Samples.path("images"), "--json")
        var parts: [String] = []
        for index in 0..<3 {
            // A job array's index from the environment.
            let result = try runProcess("/usr/bin/env", ["TASK=\(index)", vggconvExecutable, "predict", model, Samples.path("images"),
                                                        "--json", "--shard", "env:TASK/3"])
            XCTAssertEqual(result.status, 0, result.stderr)
            parts.append(scratch.file("p\(index).json"))
            try result.stdout.write(toFile: parts.last!, atomically: true, encoding: .utf8)
        }
        let merged = try runProcess(vggconvExecutable, ["merge"] + parts.reversed())
        XCTAssertEqual(merged.stdout, whole.stdout)

        let keras = Samples.path("transfer/tl_gap_keras3.keras"), folder = Samples.path("transfer/eval")
        let report = try vggconv("evaluate", keras, folder, "--json")
        XCTAssertEqual(report.status, 0, report.stderr)
        var evaluations: [String] = []
        for index in 0..<2 {
            let result = try vggconv("evaluate", keras, folder, "--json", "--shard", "\(index)/2")
            evaluations.append(scratch.file("e\(index).json"))
            try result.stdout.write(toFile: evaluations.last!, atomically: true, encoding: .utf8)
        }
        XCTAssertEqual(try runProcess(vggconvExecutable, ["merge"] + evaluations).stdout, report.stdout)
    }

    func testPartsThatDoNotBelongTogetherAreRefused() throws {
        let images = Samples.path("images")
        func part(_ model: String, _ shard: String, _ name: String) throws -> String {
            let path = scratch.file(name)
            XCTAssertEqual(try vggconv("features", Samples.path(model), images, "--shard", shard, "-o", path).status, 0)
            return path
        }
        let (a0, a1) = (try part("vgg_small.pth", "0/2", "a0.npy"), try part("vgg_small.pth", "1/2", "a1.npy"))
        let other = try part("vgg_small_tfkeras_model.h5", "1/2", "b1.npy")
        let third = try part("vgg_small.pth", "1/3", "c1.npy")
        for (parts, message) in [([a0], "shards 1 of this run are missing"), ([a0, a1, a1], "is given twice"),
                                 ([a0, third], "its shard count differs")] {
            let result = try runProcess(vggconvExecutable, ["merge"] + parts + ["-o", scratch.file("out.npy")])
            XCTAssertEqual(result.status, 2, "\(parts)")
            XCTAssertTrue(result.stderr.contains(message), result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.file("out.npy")))
        }
        // vgg_small_tfkeras_model.h5 holds the same weights as vgg_small.pth but another architecture record
        // (softmax kept): its fingerprint differs, so its part does not join a .pth run.
        let mixed = try runProcess(vggconvExecutable, ["merge", a0, other, "-o", scratch.file("out.npy")])
        XCTAssertEqual(mixed.status, 2)
        XCTAssertTrue(mixed.stderr.contains("its settings differ"), mixed.stderr)
        XCTAssertEqual(try vggconv("features", Samples.path("vgg_small.pth"), images, "--shard", "2/2", "-o", scratch.file("x.npy")).status, 2)
    }
}
