#include "cli/strategies_command.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cli/run_context.h"
#include "decoding/registry/strategy_registry.h"
#include "runtime/util/absl_compat.h"

namespace tandem::cli {
namespace {

// Markdown table cells: '|' would end the cell, '<' start an HTML tag.
std::string Cell(std::string_view text) {
  return absl::StrReplaceAll(AbslView(text), {{"|", "\\|"}, {"<", "&lt;"}});
}

std::string TypeAndRange(const decoding::ParamInfo& p) {
  if (p.range.empty()) return p.type;
  return absl::StrCat(p.type, " ", p.range);
}

}  // namespace

std::string StrategiesMarkdown() {
  std::string out = "| strategy | parameter | type | default | meaning |\n|---|---|---|---|---|\n";
  for (const decoding::StrategyDefinition* s : decoding::Strategies()) {
    const std::vector<decoding::ParamInfo> params = s->params();
    if (params.empty()) {
      absl::StrAppend(&out, "| `", AbslView(s->name()), "` | (none) | | | |\n");
      continue;
    }
    for (const decoding::ParamInfo& p : params) {
      absl::StrAppend(&out, "| `", AbslView(s->name()), "` | `", p.name, "` | ", Cell(TypeAndRange(p)), " | ",
                      p.default_value.empty() ? "(empty)" : Cell(p.default_value), " | ", Cell(p.doc), " |\n");
    }
  }
  return out;
}

CLI::App* AddStrategiesCommand(CLI::App& app, StrategiesOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "strategies", "List the decoding strategies and their parameters (name, type and range, default, meaning)");
  cmd->add_flag("--markdown", o.markdown, "Print the parameter table as markdown (the README's table)");
  return cmd;
}

int RunStrategies(const StrategiesOptions& o) {
  if (o.markdown) {
    std::fputs(StrategiesMarkdown().c_str(), stdout);
    return kExitOk;
  }
  for (const decoding::StrategyDefinition* s : decoding::Strategies()) {
    std::printf("%.*s\n  %.*s\n", static_cast<int>(s->name().size()), s->name().data(),
                static_cast<int>(s->description().size()), s->description().data());
    for (const decoding::ParamInfo& p : s->params()) {
      std::printf("  %-20s %-28s default %-12s %s\n", p.name.c_str(), TypeAndRange(p).c_str(),
                  p.default_value.empty() ? "(empty)" : p.default_value.c_str(), p.doc.c_str());
    }
  }
  return kExitOk;
}

}  // namespace tandem::cli
