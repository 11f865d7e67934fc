// The `tandem` command line: one binary, one subcommand per job.
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "cli/generate_command.h"
#include "cli/perplexity_command.h"
#include "cli/run_context.h"
#include "cli/strategies_command.h"
#include "runtime/model_store/model_store.h"
#ifdef TANDEM_CLI_SERVICES
#include "cli/deploy_command.h"
#include "cli/health_command.h"
#include "cli/score_command.h"
#include "cli/serve_command.h"
#include "cli/supervisor.h"
#endif

int main(int argc, char** argv) {
  using namespace tandem::cli;
  CLI::App app{"tandem: speculative and reward-guided LLM decoding"};
  app.require_subcommand(1);

  GenerateOptions generate;
  CLI::App* generate_cmd = AddGenerateCommand(app, generate);
  PerplexityOptions perplexity;
  CLI::App* perplexity_cmd = AddPerplexityCommand(app, perplexity);
  StrategiesOptions strategies;
  CLI::App* strategies_cmd = AddStrategiesCommand(app, strategies);
  CLI::App* models_cmd = app.add_subcommand("models", "List the bundled models and where they are cached");
#ifdef TANDEM_CLI_SERVICES
  ServeOptions serve;
  CLI::App* serve_cmd = AddServeCommand(app, serve);
  UpOptions up;
  CLI::App* up_cmd = AddUpCommand(app, up);
  DownOptions down;
  CLI::App* down_cmd = AddDownCommand(app, down);
  SuperviseOptions supervise;
  CLI::App* supervise_cmd = AddSuperviseCommand(app, supervise);
  ScoreOptions score;
  CLI::App* score_cmd = AddScoreCommand(app, score);
  HealthOptions health;
  CLI::App* health_cmd = AddHealthCommand(app, health);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, not the whole usage text: scripts read the first line.
    std::fprintf(stderr, "tandem: error: %s (see --help)\n", e.what());
    return kExitUsage;
  }

  if (generate_cmd->parsed()) return RunGenerate(generate);
  if (perplexity_cmd->parsed()) return RunPerplexity(perplexity);
  if (strategies_cmd->parsed()) return RunStrategies(strategies);
#ifdef TANDEM_CLI_SERVICES
  if (serve_cmd->parsed()) return RunServe(serve);
  if (up_cmd->parsed()) return RunUp(up);
  if (down_cmd->parsed()) return RunDown(down);
  if (supervise_cmd->parsed()) return RunSupervise(supervise);
  if (score_cmd->parsed()) return RunScore(score);
  if (health_cmd->parsed()) return RunHealth(health);
#endif
  if (models_cmd->parsed()) {
    for (const std::string& name : tandem::runtime::BundledModelNames()) {
      auto path = tandem::runtime::ResolveModelPath(name);
      std::printf("%-22s %s\n", name.c_str(), path.ok() ? path->c_str() : "(not fetched)");
    }
    return kExitOk;
  }
  return kExitUsage;
}
