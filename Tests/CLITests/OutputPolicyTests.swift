import Foundation
import TestSupport
import XCTest

/// Issue 30's first findings: outputs never replace a device, FIFO or directory (even with --force, even
/// behind a link) nor any input of the command; no input path blocks (a FIFO is refused, not waited on);
/// text from files is printed escaped.
final class OutputPolicyTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    private var model: String { Samples.path("vgg_small.pth") }
    private var photo: String { Samples.path("images/chelsea.png") }

    private func fileType(_ path: String) -> FileAttributeType? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
    }

    func testDevicesAreNeverReplacedEvenWithForce() throws {
        let link = scratch.file("null-link.npy")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/null")
        for target in ["/dev/null", link] {
            let result = try vggconv("run", model, "--input", Samples.path("golden/vgg_small_input_nchw.npy"), "-o", target, "--force")
            XCTAssertEqual(result.status, 2, result.stdout)
            XCTAssertTrue(result.stderr.contains("character device"), result.stderr)
            let png = try vggconv("filters", model, "--png", target, "--force")
            XCTAssertEqual(png.status, 2, png.stdout)
        }
        XCTAssertEqual(fileType("/dev/null"), .typeCharacterSpecial)
        XCTAssertEqual(fileType(link), .typeSymbolicLink)
    }

    func testAFifoIsRefusedWhereverAPathIsRead() throws {
        let fifo = scratch.file("pipe")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let labels = ["predict", model, photo, "--labels", fifo]
        let config = ["keras2native", Samples.path("vgg_small_keras3.weights.h5"), "--config", fifo, "-o", scratch.file("x.vggw")]
        for arguments in [["summary", fifo], ["inspect", fifo], ["predict", fifo, photo], labels, config,
                          ["diff", model, fifo], ["run", model, "--input", fifo, "-o", scratch.file("y.npy")]] {
            let started = Date()
            let result = try runProcess(vggconvExecutable, arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stdout)")
            XCTAssertTrue(result.stderr.contains("is not a regular file"), "\(arguments): \(result.stderr)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 10, "\(arguments) must not wait on the FIFO")
        }
        var info = stat()
        XCTAssertEqual(lstat(fifo, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO, "the FIFO is still a FIFO")
    }

    /// A path that is not a regular file is refused saying what the path should have been; inside an
    /// image folder such an entry is passed over with a note.
    func testEachInputKindIsNamedAndFoldersSkipWhatIsNotAFile() throws {
        let fifo = scratch.file("x.png")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        for (arguments, expected) in [(["predict", model, fifo], "an image file"), (["predict", model, photo, "--labels", fifo], "a labels file"),
                                      (["summary", fifo], "a model file"), (["run", model, "--input", fifo, "-o", scratch.file("o.npy")], "a NumPy array file"),
                                      (["summary", Samples.path("vgg_small_keras3.weights.h5"), "--config", fifo], "a Keras model config")] {
            let result = try runProcess(vggconvExecutable, arguments)
            XCTAssertEqual(result.status, 2, "\(arguments)")
            XCTAssertTrue(result.stderr.contains("(it is a FIFO); pass the path of \(expected)"), "\(arguments): \(result.stderr)")
        }
        try FileManager.default.copyItem(atPath: photo, toPath: scratch.file("cat.png"))
        let result = try vggconv("predict", model, scratch.path)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.split(separator: "\n").count, 1, result.stdout)
        XCTAssertTrue(result.stderr.contains("note: skipped \(fifo) (a FIFO): not a regular file"), result.stderr)
    }

    func testNoOutputMayBeAnInputOrAnotherOutput() throws {
        let copy = scratch.file("model.vggw")
        try FileManager.default.copyItem(atPath: model, toPath: copy)
        let before = try Data(contentsOf: URL(fileURLWithPath: copy))
        let features = try vggconv("features", copy, photo, "-o", scratch.file("f.npy"), "--png", copy, "--force")
        XCTAssertEqual(features.status, 2, features.stdout)
        XCTAssertTrue(features.stderr.contains("both the input and the output"), features.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: copy)), before, "the model is untouched")
        let twice = scratch.file("cam.out")
        let gradcam = try vggconv("gradcam", copy, photo, "--png", twice, "--npy", twice)
        XCTAssertEqual(gradcam.status, 2, gradcam.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: twice))
    }

    /// An input size whose activations do not fit the memory allowed is refused before any allocation,
    /// naming a size that fits (it was a Swift "failed to allocate" abort leaving a partial file).
    func testAnInputTooLargeForMemoryIsRefusedWithASizeThatFits() throws {
        let output = scratch.file("f.npy")
        let command = "ulimit -v 3000000; exec \"$0\" features \"$1\" \"$2\" --size 8192,8192 -o \"$3\""
        let started = Date()
        let result = try runProcess("/bin/sh", ["-c", command, vggconvExecutable, model, photo, output])
        XCTAssertEqual(result.status, 2, result.stdout)
        XCTAssertTrue(result.stderr.contains("needs") && result.stderr.contains("--size"), result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertTrue(scratch.contents().isEmpty, "no output, no partial file: \(scratch.contents())")
    }

    func testLabelsThatWouldShiftAreRefusedByLine() throws {
        let labels = scratch.file("labels.txt")
        for (text, line) in [((0..<9).map { "l\($0)" }.joined(separator: "\n") + "\n\nl9\n", "line 10 is blank"),
                             ("l0\u{2028}l1\n" + (2..<10).map { "l\($0)" }.joined(separator: "\n"), "line 1 holds a control character")] {
            try text.write(toFile: labels, atomically: true, encoding: .utf8)
            let result = try vggconv("predict", model, photo, "--labels", labels)
            XCTAssertEqual(result.status, 2, result.stdout)
            XCTAssertTrue(result.stderr.contains(line), result.stderr)
        }
        // Bytes that are not UTF-8 were decoded as U+FFFD, changing the label silently.
        try Data([0x6C, 0x30, 0x0A, 0x6C, 0x31, 0xFF, 0x0A] + Array((2..<10).map { "l\($0)" }.joined(separator: "\n").utf8))
            .write(to: URL(fileURLWithPath: labels))
        let invalid = try vggconv("predict", model, photo, "--labels", labels)
        XCTAssertEqual(invalid.status, 2, invalid.stdout)
        XCTAssertTrue(invalid.stderr.contains("line 2 is not UTF-8"), invalid.stderr)
        // CRLF line ends and a final newline are fine.
        try ((0..<10).map { "l\($0)" }.joined(separator: "\r\n") + "\r\n").write(toFile: labels, atomically: true, encoding: .utf8)
        XCTAssertEqual(try vggconv("predict", model, photo, "--labels", labels).status, 0)
    }

    /// (Labels with control characters are refused: testLabelsThatWouldShiftAreRefusedByLine.)
    func testFileNamesArePrintedEscaped() throws {
        let folder = scratch.file("photos")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let forged = "\(folder)/cat.png: class 0 1.0000\n\u{1B}[8mhidden.png"
        try FileManager.default.copyItem(atPath: photo, toPath: forged)
        let result = try vggconv("predict", model, folder, "--top", "10")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertFalse(result.stdout.contains("\u{1B}"), "no escape character reaches the terminal")
        XCTAssertEqual(result.stdout.split(separator: "\n").count, 1, "one image, one line: \(result.stdout)")
        XCTAssertTrue(result.stdout.contains("\\x0a") && result.stdout.contains("\\x1b"), result.stdout)
    }

    /// Starts `arguments` with every rename paused for `pause` seconds; returns the running process.
    private func startPaused(_ arguments: [String], pause: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: vggconvExecutable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["VGGCONV_TEST_PAUSE_BEFORE_RENAME"] = String(pause)
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = Pipe()
        try process.run()
        return process
    }

    private func waitFor(_ prefix: String, timeout: TimeInterval = 30) {
        let deadline = Date().addingTimeInterval(timeout)
        while !scratch.contents().contains(where: { $0.hasPrefix(prefix) }), Date() < deadline { usleep(20_000) }
    }

    private func standardError(_ process: Process) -> String {
        let data = (process.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `convert -o out.pth` writes out.pth and its module out.py together: when out.py cannot be placed
    /// (a directory appeared there while the command ran), out.pth is not left behind either, and with
    /// --force the out.pth it would have replaced is back in place, unchanged.
    func testACommandsOutputsArePlacedTogetherOrNotAtAll() throws {
        let source = Samples.path("vgg_small_tfkeras_model.h5")
        for force in [false, true] {
            let weights = scratch.file("out.pth"), module = scratch.file("out.py")
            if force { try Data("old weights".utf8).write(to: URL(fileURLWithPath: weights)) }
            let process = try startPaused(["convert", source, "-o", weights] + (force ? ["--force"] : []), pause: 1)
            waitFor(".out.py.partial-")
            XCTAssertEqual(mkdir(module, 0o755), 0)
            let stderr = standardError(process)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 2, stderr)
            XCTAssertTrue(stderr.contains("out.py") && stderr.contains("directory"), stderr)
            if force {
                XCTAssertEqual(try String(contentsOfFile: weights, encoding: .utf8), "old weights", "the replaced file is restored")
            } else {
                XCTAssertFalse(FileManager.default.fileExists(atPath: weights), "no out.pth without its out.py")
            }
            XCTAssertEqual(fileType(module), .typeDirectory, "the directory is untouched")
            XCTAssertEqual(scratch.contents().filter { $0.contains("partial") }, [], "no temporary left")
            scratch.remove()
            scratch = TemporaryDirectory()
        }
    }

    /// Without --force, a file that appears at the destination while the command runs is not replaced:
    /// the decision is made by the rename itself (three concurrent converts: one wins, two are refused).
    func testAnOutputThatAppearsMeanwhileIsNotReplacedWithoutForce() throws {
        let output = scratch.file("out.vggw")
        let process = try startPaused(["keras2native", Samples.path("vgg_small_tfkeras_model.h5"), "-o", output], pause: 1)
        waitFor(".out.vggw.partial-")
        try Data("someone else's".utf8).write(to: URL(fileURLWithPath: output))
        let stderr = standardError(process)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 2, stderr)
        XCTAssertTrue(stderr.contains("already exists"), stderr)
        XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8), "someone else's")
        XCTAssertEqual(scratch.contents(), ["out.vggw"])

        let racers = try (0..<3).map { _ in
            try startPaused(["keras2native", Samples.path("vgg_small_tfkeras_model.h5"), "-o", scratch.file("race.vggw")], pause: 1)
        }
        racers.forEach { $0.waitUntilExit() }
        XCTAssertEqual(racers.map(\.terminationStatus).sorted(), [0, 2, 2])
    }

    /// With --force, what is displaced at the rename must be a regular file: a link to a device that
    /// replaced the output meanwhile is swapped back and refused, and the device is untouched.
    func testForceDecidesAtTheRenameToo() throws {
        let output = scratch.file("out.vggw")
        try Data("old".utf8).write(to: URL(fileURLWithPath: output))
        let process = try startPaused(["keras2native", Samples.path("vgg_small_tfkeras_model.h5"), "-o", output, "--force"], pause: 1)
        waitFor(".out.vggw.partial-")
        try FileManager.default.removeItem(atPath: output)
        try FileManager.default.createSymbolicLink(atPath: output, withDestinationPath: "/dev/null")
        let stderr = standardError(process)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 2, stderr)
        XCTAssertTrue(stderr.contains("character device"), stderr)
        XCTAssertEqual(fileType(output), .typeSymbolicLink)
        XCTAssertEqual(fileType("/dev/null"), .typeCharacterSpecial)
        XCTAssertEqual(scratch.contents(), ["out.vggw"])
    }
}
