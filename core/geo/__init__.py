"""Geography: China's datums, the chain of map providers, and routing a lead to the nearest
dealer."""
