"""Pipeline stages 5-6: training loops (SFT, RL) and the baselines trained here."""
