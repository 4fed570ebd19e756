import './index.css';
import './observe.css';
