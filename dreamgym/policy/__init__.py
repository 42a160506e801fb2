"""The LLM agent and its training: prompt/reply format, acting (action scoring or free generation), the batched
multi-turn rollout engine, GRPO and PPO, the horizon schedule, behaviour cloning, evaluation.

    agent = make_agent(cfg.policy, cache_dir, texts=policy_texts(steps, tasks))   # checkpoint.py
    episodes = rollout(agent, envs, tasks, horizon=6)
    trainer = PolicyTrainer(agent, cfg.policy.rl, envs, train_tasks); trainer.step()
    evaluate_policy(agent, envs, test_tasks, horizon=20).success

Modules: format (prompt, reply parser), agent (Agent and its AgentSettings, built from the config only; the
packing and scoring maths is dreamgym.models.scoring), rollout (engine), core (pure math: advantages, GAE, losses,
horizon schedule, Wilson interval), trainer (GRPO/PPO), bc (warm start), evaluate (held-out success), checkpoint
(build per the config, save/load a policy with its settings). Imports are direct
(`from dreamgym.policy.agent import Agent`): this package file loads nothing heavy.
"""
