import Foundation
import FileIO
import VGGCore

// What only the terminal needs: the progress bar and the one-line error text.

/// A progress bar on stderr, shown only when stderr is a terminal and the work lasts over half a second.
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let start = Date()
    private let enabled = isatty(2) != 0
    private var shown = false
    private var lastPercent = -1

    init(label: String) { self.label = label }

    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0, Date().timeIntervalSince(start) > 0.5 else { return }
        let percent = done * 100 / total
        guard percent != lastPercent else { return }
        lastPercent = percent
        shown = true
        let width = 30, filled = percent * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(percent)%".utf8))
    }

    func finish() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// An error message as the CLI prints it: one line (control characters escaped) of bounded length
/// (the middle of a very long message is cut, keeping its start and its advice at the end).
func printableError(_ message: String) -> String {
    let line = SafeText.oneLine(message)
    let limit = 1200
    guard line.count > limit else { return line }
    return String(line.prefix(limit * 2 / 3)) + " … " + String(line.suffix(limit / 3))
}

/// The flags that carry out a library error's remedy, for the one-line message.
func remedyHint(_ error: Error) -> String? {
    (error as? Remediable)?.remedy.map(flags)
}

/// The options of this command line that carry out `remedy`.
func flags(_ remedy: Remedy) -> String {
    switch remedy {
    case .allowOverwrite: return "pass --force to overwrite it, or choose another output name"
    case .giveKerasConfig: return "pass it with --config MODEL.json"
    case .giveKerasConfigOrArchitecture: return "pass it with --config MODEL.json, or --arch vgg16 (vgg11 … vgg19, with _bn) for a keras.applications VGG"
    case .smallerInput(let side): return "pass --size \(side),\(side) or less"
    case .otherInputLayout(let channelsLast): return "pass --input-layout \(channelsLast ? "nhwc" : "nchw")"
    case .chooseLayer: return "pass --layer with one of the model's layers (summary lists them)"
    case .chooseClass(let classes): return "pass --class 0 to \(classes - 1), or --top 1 to \(classes)"
    case .giveLabels: return "pass --labels FILE naming each of the model's outputs, one per line"
    case .compareLogits: return "pass --logits"
    case .chooseGlobalMaxPooling: return "pass --pool max"
    case .relativeTolerance(let rtol): return "use --rtol \(String(format: "%g", rtol))"
    }
}
