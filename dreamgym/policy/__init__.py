"""The LLM agent and its training: prompt/reply format, acting (action scoring or free generation), the batched
multi-turn rollout engine, GRPO and PPO, the horizon schedule, behaviour cloning, evaluation.

    agent = Agent(model, tok, mode="score", history_window=2)
    episodes = rollout(agent, envs, tasks, horizon=6)
    trainer = PolicyTrainer(agent, cfg.policy.rl, envs, train_tasks); trainer.step()
    evaluate_policy(agent, envs, test_tasks, horizon=20).success

Modules: format (prompt, reply parser), agent (Agent, ValueHead, packing with agent masks), rollout (engine),
core (pure math: advantages, GAE, losses, horizon schedule, Wilson interval), trainer (GRPO/PPO), bc (warm
start), evaluate (held-out success), checkpoint (save/load a policy with its settings). Imports are direct
(`from dreamgym.policy.agent import Agent`): this package file loads nothing heavy.
"""
